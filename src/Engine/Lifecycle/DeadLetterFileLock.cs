using Microsoft.Extensions.Logging;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>
/// Holds a consumer's JSON-lines dead-letter file for the consumer's life: taken at start, so that a second process
/// on the same data directory is refused before it reads anything, and released at stop.
/// </summary>
internal static class DeadLetterFileLock
{
    /// <exception cref="InvalidOperationException">Another process writes the consumer's dead-letter file.</exception>
    public static void Acquire(string consumer, StreamConsumerOptions options, IDeadLetterSink sink, ILogger logger)
    {
        if (sink is not JsonLinesDeadLetterSink file)
        {
            return;
        }

        // A sink the user built without a logger still reports unreadable lines, through the consumer's.
        file.UseLoggerIfNone(logger);

        try
        {
            file.AcquireWriterLock();
        }
        catch (IOException ex)
        {
            string dataDirectory = Path.GetFullPath(options.DataDirectory);
            string where = file.Path.StartsWith(dataDirectory.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal)
                ? $"its data directory '{dataDirectory}' is in use by another process, which holds the lock on the consumer's dead-letter file ('{file.LockPath}')"
                : $"its dead-letter file '{file.Path}' is in use by another process, which holds the lock '{file.LockPath}'";
            throw new InvalidOperationException(
                $"Stream consumer '{consumer}' cannot start: {where}. Two processes writing one file lose dead letters, so " +
                $"StreamLanes runs one process per data directory: stop the other process, or give this one its own " +
                $"{StreamConsumerOptions.ConfigurationSection}:{consumer}:DataDirectory.",
                ex);
        }
    }

    public static ValueTask ReleaseAsync(IDeadLetterSink sink)
        => sink is JsonLinesDeadLetterSink file ? file.ReleaseWriterLockAsync() : ValueTask.CompletedTask;
}
