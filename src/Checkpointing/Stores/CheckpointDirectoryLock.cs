namespace StreamLanes.Checkpointing;

/// <summary>
/// An exclusive OS lock on a checkpoint directory (<c>&lt;directory&gt;/.lock</c>, opened with
/// <see cref="FileShare.None"/>: <c>flock</c> on Unix), shared by every store of this process on the directory and
/// released by the OS when the process ends, crash included.
/// </summary>
internal sealed class CheckpointDirectoryLock : IDisposable
{
    private static readonly Dictionary<string, (FileStream Stream, int Count)> Held = new(StringComparer.Ordinal);
    private readonly string _path;
    private int _disposed;

    private CheckpointDirectoryLock(string path) => _path = path;

    /// <exception cref="IOException">Another process holds the directory; the message names it.</exception>
    public static CheckpointDirectoryLock Acquire(string directory)
    {
        string path = Path.Combine(directory, ".lock");
        lock (Held)
        {
            if (Held.TryGetValue(path, out (FileStream Stream, int Count) held))
            {
                Held[path] = (held.Stream, held.Count + 1);
            }
            else
            {
                System.IO.Directory.CreateDirectory(directory);
                try
                {
                    Held[path] = (new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None), 1);
                }
                catch (IOException ex) when (ex is not FileNotFoundException and not DirectoryNotFoundException and not PathTooLongException)
                {
                    throw new IOException(
                        $"The checkpoint directory '{directory}' is in use by another process (it holds the lock file '{path}'). " +
                        "Two processes writing one checkpoint directory overwrite each other's progress, so StreamLanes runs one " +
                        "process per data directory: stop the other process, or give this one its own DataDirectory.",
                        ex);
                }
            }
        }

        return new CheckpointDirectoryLock(path);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        lock (Held)
        {
            (FileStream stream, int count) = Held[_path];
            if (count > 1)
            {
                Held[_path] = (stream, count - 1);
            }
            else
            {
                Held.Remove(_path);
                stream.Dispose();
            }
        }
    }
}
