namespace StreamLanes.Sinks;

/// <summary>
/// An exclusive lock on a lock file that other processes see: the file is opened with <see cref="FileShare.None"/>,
/// which .NET turns into <c>flock(LOCK_EX)</c> on Unix and a share-mode lock on Windows. The OS drops it when the
/// process ends, crash included, so a stale lock never outlives its owner.
/// </summary>
/// <remarks>
/// Within one process, holders of the same path share one lock (reference-counted): a second open in the same
/// process would otherwise conflict with the first on Unix. The lock file is left in place after release, because
/// deleting it could let two processes lock two different files of the same name.
/// </remarks>
internal sealed class ExclusiveFileLock : IDisposable
{
    private static readonly Dictionary<string, Held> HeldLocks = new(StringComparer.Ordinal);
    private readonly Held _held;
    private int _disposed;

    private ExclusiveFileLock(Held held) => _held = held;

    /// <summary>The lock file's absolute path.</summary>
    public string Path => _held.Path;

    /// <summary>Takes the lock, or joins this process's hold on it.</summary>
    /// <param name="lockPath">The lock file; created with its directory when absent.</param>
    /// <returns>The lock; dispose it to release this hold.</returns>
    /// <exception cref="IOException">Another process holds the lock.</exception>
    public static ExclusiveFileLock Acquire(string lockPath)
    {
        string path = System.IO.Path.GetFullPath(lockPath);
        lock (HeldLocks)
        {
            if (!HeldLocks.TryGetValue(path, out Held? held))
            {
                Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
                FileStream stream;
                try
                {
                    stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                }
                catch (IOException ex) when (ex is not FileNotFoundException and not DirectoryNotFoundException and not PathTooLongException)
                {
                    throw new IOException($"The lock file '{path}' is held by another process.", ex);
                }

                held = new Held(path, stream);
                HeldLocks[path] = held;
            }

            held.Count++;
            return new ExclusiveFileLock(held);
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        lock (HeldLocks)
        {
            if (--_held.Count == 0)
            {
                HeldLocks.Remove(_held.Path);
                _held.Stream.Dispose();
            }
        }
    }

    private sealed class Held(string path, FileStream stream)
    {
        public string Path { get; } = path;

        public FileStream Stream { get; } = stream;

        public int Count { get; set; }
    }
}
