using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>Shard reader faults: what the status and health check report, and the stop a fatal one triggers.</summary>
internal sealed partial class StreamConsumerRuntime
{
    // Guarded by itself. Faults are rare; a lock keeps the count and the entries consistent, and the count lets the
    // per-read ReportReaderRecovered return at once when nothing failed.
    private readonly Dictionary<string, ShardReaderFault> _readerFaults = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _startCompleted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _readerFaultCount;
    private int _selfStopRequested;
    private Task? _stop;

    public void ReportReaderFault(string shardId, Exception exception, bool fatal)
    {
        ArgumentNullException.ThrowIfNull(shardId);
        ArgumentNullException.ThrowIfNull(exception);
        DateTimeOffset now = TimeProvider.GetUtcNow();
        string type = exception.GetType().FullName ?? exception.GetType().Name;
        ShardReaderFault fault;
        lock (_readerFaults)
        {
            fault = _readerFaults.TryGetValue(shardId, out ShardReaderFault? previous)
                ? previous with { ExceptionType = type, Fatal = previous.Fatal || fatal, ConsecutiveFailures = previous.ConsecutiveFailures + 1, LastFailedAt = now }
                : new ShardReaderFault { ShardId = shardId, ExceptionType = type, Fatal = fatal, ConsecutiveFailures = 1, FirstFailedAt = now, LastFailedAt = now };
            _readerFaults[shardId] = fault;
            Volatile.Write(ref _readerFaultCount, _readerFaults.Count);
        }

        if (!fault.Fatal)
        {
            // The first failure of a streak, then the 2nd, 4th, 8th…: a reader backing off for an hour logs a dozen
            // lines, not thousands (sources log each failed read themselves).
            int failures = fault.ConsecutiveFailures;
            if ((failures & (failures - 1)) != 0)
            {
                return;
            }

            Log.ReaderFailed(Logger, SafeText.ForLog(exception), Name, SafeText.Escape(shardId), type, fault.ConsecutiveFailures);
            return;
        }

        Volatile.Write(ref _fault, exception);
        Log.ReaderFailedFatally(Logger, SafeText.ForLog(exception), Name, SafeText.Escape(shardId), type);

        // Stopped from another task: the reporting reader must be free to return, since the stop waits for every reader.
        // A fault reported while the consumer is still starting stops it once the start has completed.
        if (Interlocked.Exchange(ref _selfStopRequested, 1) == 0)
        {
            _ = Task.Run(async () =>
            {
                await _startCompleted.Task.ConfigureAwait(false);
                await StopAsync(CancellationToken.None).ConfigureAwait(false);
            });
        }
    }

    public void ReportReaderRecovered(string shardId)
    {
        if (Volatile.Read(ref _readerFaultCount) == 0)
        {
            return;
        }

        ShardReaderFault? recovered = null;
        lock (_readerFaults)
        {
            if (_readerFaults.TryGetValue(shardId, out ShardReaderFault? fault) && !fault.Fatal)
            {
                _readerFaults.Remove(shardId);
                Volatile.Write(ref _readerFaultCount, _readerFaults.Count);
                recovered = fault;
            }
        }

        if (recovered is not null)
        {
            Log.ReaderRecovered(Logger, Name, SafeText.Escape(shardId), recovered.ConsecutiveFailures, TimeProvider.GetUtcNow() - recovered.FirstFailedAt);
        }
    }

    /// <summary>A closed shard's reader is gone: its transient fault no longer says anything about this worker.</summary>
    private void ForgetReaderFault(string shardId)
    {
        if (Volatile.Read(ref _readerFaultCount) == 0)
        {
            return;
        }

        lock (_readerFaults)
        {
            if (_readerFaults.TryGetValue(shardId, out ShardReaderFault? fault) && !fault.Fatal)
            {
                _readerFaults.Remove(shardId);
                Volatile.Write(ref _readerFaultCount, _readerFaults.Count);
            }
        }
    }

    private IReadOnlyList<ShardReaderFault> SnapshotReaderFaults()
    {
        if (Volatile.Read(ref _readerFaultCount) == 0)
        {
            return [];
        }

        lock (_readerFaults)
        {
            return [.. _readerFaults.Values.OrderByDescending(static f => f.Fatal).ThenBy(static f => f.ShardId, StringComparer.Ordinal)];
        }
    }

    /// <summary>Unhealthy while a reader fails (transient) or after one failed fatally; null when every reader is fine.</summary>
    private HealthCheckResult? ReaderHealth(Dictionary<string, object> data)
    {
        IReadOnlyList<ShardReaderFault> faults = SnapshotReaderFaults();
        if (faults.Count == 0)
        {
            return null;
        }

        data["readerFaults"] = faults.Count;
        ShardReaderFault worst = faults[0];
        string more = faults.Count > 1 ? $" ({faults.Count - 1} more shard(s) failing)" : string.Empty;
        string description = worst.Fatal
            ? $"Consumer '{Name}' stopped: the reader of shard '{SafeText.Escape(worst.ShardId)}' failed with {worst.ExceptionType}, which retrying cannot heal; fix the cause and restart.{more}"
            : $"Consumer '{Name}': the reader of shard '{SafeText.Escape(worst.ShardId)}' is failing with {worst.ExceptionType} ({worst.ConsecutiveFailures} consecutive failures since {worst.FirstFailedAt:O}); it retries with back-off.{more}";
        return HealthCheckResult.Unhealthy(description, data: data);
    }

    /// <summary>
    /// Stops once: the first caller (the host, or this consumer after a fatal reader fault) does the work, a later one
    /// waits for it, bounded by its own token. A failing part of the stop is logged, never thrown: an exception here
    /// fails the host's stop and crashes a process whose state was already saved as well as it could be.
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _stop, done.Task, null) is Task earlier)
        {
            return earlier.WaitAsync(cancellationToken).ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return StopAndCompleteAsync(done, cancellationToken);
    }

    private async Task StopAndCompleteAsync(TaskCompletionSource done, CancellationToken cancellationToken)
    {
        try
        {
            await StopOnceAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.StopFailed(Logger, SafeText.ForLog(ex), Name);
        }
        finally
        {
            done.TrySetResult();
        }
    }
}
