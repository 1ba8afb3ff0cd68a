using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using StreamLanes.Checkpointing;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>
/// A consumer's status and health: its counters, the faults its shards and readers reported (a reader failing, or
/// one failed fatally), a sink failing in a row, a stale checkpoint.
/// </summary>
internal sealed class ConsumerHealth(StreamConsumerRuntime runtime, StreamConsumerOptions options, ConsumerCounters counters, ILogger logger)
{
    // Guarded by itself. Faults are rare; a lock keeps the count and the entries consistent, and the count lets the
    // per-read ReaderRecovered return at once when nothing failed.
    private readonly Dictionary<string, ShardReaderFault> _readerFaults = new(StringComparer.Ordinal);
    private int _readerFaultCount;
    private Exception? _fault;

    // Guarded by itself: shards whose parked keys exceed the key state's bound (their checkpoints are held).
    private readonly Dictionary<string, (int Keys, int Bytes)> _parkedOverflow = new(StringComparer.Ordinal);
    private int _parkedOverflowCount;
    private DateTimeOffset _startedAt;

    private string Name => runtime.Name;

    public Exception? Fault => Volatile.Read(ref _fault);

    public void Started(DateTimeOffset at) => _startedAt = at;

    /// <summary>Part of the input stopped being processed (a lane, a source, an acknowledgement failed).</summary>
    public void RecordFault(Exception exception) => Volatile.Write(ref _fault, exception);

    public StreamConsumerStatus GetStatus() => new()
    {
        Name = Name,
        Running = runtime.Running,
        OpenShards = runtime.OpenShardCount,
        Received = counters.Received,
        Handled = counters.Handled,
        Retried = counters.Retried,
        DeadLettered = counters.DeadLettered,
        Buffered = runtime.BufferedCount,
        ActiveLanes = runtime.ActiveLaneCount,
        BlockedLanes = counters.BlockedLanes,
        CheckpointLag = runtime.CheckpointLag,
        ConsecutiveSinkFailures = counters.ConsecutiveSinkFailures,
        LastCheckpointAt = counters.LastCheckpointAt,
        Fault = Fault,
        ReaderFaults = SnapshotReaderFaults(),
    };

    public HealthCheckResult Evaluate()
    {
        long lag = runtime.CheckpointLag;
        var data = new Dictionary<string, object>
        {
            ["buffered"] = runtime.BufferedCount,
            ["blockedLanes"] = counters.BlockedLanes,
            ["checkpointLag"] = lag,
            ["consecutiveSinkFailures"] = counters.ConsecutiveSinkFailures,
        };
        if (ReaderHealth(data) is HealthCheckResult readerHealth)
        {
            return readerHealth;
        }

        if (ParkedOverflowHealth(data) is HealthCheckResult overflow)
        {
            return overflow;
        }

        if (Fault is Exception fault)
        {
            return HealthCheckResult.Unhealthy($"Consumer '{Name}' stopped processing part of its input: {SafeText.Escape(fault.Message, SafeText.MessageMaxLength)}", fault, data);
        }

        int sinkFailures = counters.ConsecutiveSinkFailures;
        if (sinkFailures >= options.SinkFailuresBeforeUnhealthy)
        {
            return HealthCheckResult.Unhealthy($"Consumer '{Name}': the dead-letter sink failed {sinkFailures} times in a row; affected keys wait and the checkpoint holds.", data: data);
        }

        if (lag > 0)
        {
            DateTimeOffset since = counters.LastCheckpointAt ?? _startedAt;
            TimeSpan age = runtime.TimeProvider.GetUtcNow() - since;
            if (age > options.MaxCheckpointAge)
            {
                return HealthCheckResult.Unhealthy($"Consumer '{Name}': no checkpoint saved for {age:g} while {lag} records wait for one (MaxCheckpointAge {options.MaxCheckpointAge:g}).", data: data);
            }
        }

        return runtime.Running ? HealthCheckResult.Healthy($"Consumer '{Name}' is running.", data) : HealthCheckResult.Degraded($"Consumer '{Name}' is not running.", data: data);
    }

    /// <summary>A shard's parked keys exceed the key state's bound.</summary>
    /// <returns>Whether this starts a spell (to log it once).</returns>
    public bool ParkedKeysOverflow(string shardId, int keys, int bytes)
    {
        lock (_parkedOverflow)
        {
            bool started = !_parkedOverflow.ContainsKey(shardId);
            _parkedOverflow[shardId] = (keys, bytes);
            Volatile.Write(ref _parkedOverflowCount, _parkedOverflow.Count);
            return started;
        }
    }

    /// <summary>A shard's key state was saved.</summary>
    /// <returns>Whether this ends a spell.</returns>
    public bool ParkedKeysFit(string shardId)
    {
        if (Volatile.Read(ref _parkedOverflowCount) == 0)
        {
            return false;
        }

        lock (_parkedOverflow)
        {
            bool ended = _parkedOverflow.Remove(shardId);
            Volatile.Write(ref _parkedOverflowCount, _parkedOverflow.Count);
            return ended;
        }
    }

    private HealthCheckResult? ParkedOverflowHealth(Dictionary<string, object> data)
    {
        if (Volatile.Read(ref _parkedOverflowCount) == 0)
        {
            return null;
        }

        string shards;
        lock (_parkedOverflow)
        {
            if (_parkedOverflow.Count == 0)
            {
                return null;
            }

            shards = string.Join(", ", _parkedOverflow.OrderBy(p => p.Key, StringComparer.Ordinal).Take(5).Select(p => $"{SafeText.Escape(p.Key)} ({p.Value.Keys} keys, {p.Value.Bytes} bytes)"));
        }

        return HealthCheckResult.Unhealthy(
            $"Consumer '{Name}': parked keys exceed the {ShardKeyStateCodec.MaxEncodedBytes} bytes a shard's key state may hold on shard {shards}; "
            + "the checkpoint is held so that no parked key is forgotten. Release or replay parked keys.",
            data: data);
    }

    /// <summary>Records a failed read of a shard; logs the 1st, 2nd, 4th, 8th… of a streak.</summary>
    /// <returns>Whether the fault is fatal (then the consumer must stop).</returns>
    public bool ReaderFailed(string shardId, Exception exception, bool fatal)
    {
        DateTimeOffset now = runtime.TimeProvider.GetUtcNow();
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
            // A reader backing off for an hour logs a dozen lines, not thousands (sources log each failed read themselves).
            int failures = fault.ConsecutiveFailures;
            if ((failures & (failures - 1)) == 0)
            {
                Log.ReaderFailed(logger, SafeText.ForLog(exception), Name, SafeText.Escape(shardId), type, fault.ConsecutiveFailures);
            }

            return false;
        }

        RecordFault(exception);
        Log.ReaderFailedFatally(logger, SafeText.ForLog(exception), Name, SafeText.Escape(shardId), type);
        return true;
    }

    public void ReaderRecovered(string shardId)
    {
        if (Volatile.Read(ref _readerFaultCount) == 0)
        {
            return;
        }

        if (RemoveTransient(shardId) is ShardReaderFault recovered)
        {
            Log.ReaderRecovered(logger, Name, SafeText.Escape(shardId), recovered.ConsecutiveFailures, runtime.TimeProvider.GetUtcNow() - recovered.FirstFailedAt);
        }
    }

    /// <summary>A closed shard's reader is gone: its transient fault no longer says anything about this worker.</summary>
    public void ForgetReader(string shardId)
    {
        if (Volatile.Read(ref _readerFaultCount) != 0)
        {
            RemoveTransient(shardId);
        }
    }

    private ShardReaderFault? RemoveTransient(string shardId)
    {
        lock (_readerFaults)
        {
            if (_readerFaults.TryGetValue(shardId, out ShardReaderFault? fault) && !fault.Fatal)
            {
                _readerFaults.Remove(shardId);
                Volatile.Write(ref _readerFaultCount, _readerFaults.Count);
                return fault;
            }
        }

        return null;
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
}
