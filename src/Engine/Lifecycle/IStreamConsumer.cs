namespace StreamLanes;

/// <summary>
/// A running stream consumer, for operators and tests: its status, and the keys parked by
/// <see cref="KeyFailureMode.ParkKey"/>. Resolve it with <c>GetRequiredKeyedService&lt;IStreamConsumer&gt;(name)</c>.
/// </summary>
public interface IStreamConsumer
{
    /// <summary>The consumer's name.</summary>
    string Name { get; }

    /// <summary>The keys currently parked, each with the sequence number of the dead letter that parked it.</summary>
    IReadOnlyDictionary<string, string> ParkedKeys { get; }

    /// <summary>
    /// Releases a parked key: its next records are handled again. Release a key after its dead letters were
    /// replayed (or deliberately discarded), or its order is lost.
    /// </summary>
    /// <param name="partitionKey">The key.</param>
    /// <returns>Whether the key was parked.</returns>
    bool ReleaseKey(string partitionKey);

    /// <summary>A snapshot of the consumer's counters and state.</summary>
    /// <returns>The status.</returns>
    StreamConsumerStatus GetStatus();
}

/// <summary>A snapshot of a consumer's state.</summary>
public sealed record StreamConsumerStatus
{
    /// <summary>The consumer's name.</summary>
    public required string Name { get; init; }

    /// <summary>Whether the consumer is running (started and not stopped).</summary>
    public required bool Running { get; init; }

    /// <summary>Shards being processed.</summary>
    public required int OpenShards { get; init; }

    /// <summary>Records read since start.</summary>
    public required long Received { get; init; }

    /// <summary>Records handled successfully since start.</summary>
    public required long Handled { get; init; }

    /// <summary>Retries (attempts after the first) since start.</summary>
    public required long Retried { get; init; }

    /// <summary>Records dead-lettered since start.</summary>
    public required long DeadLettered { get; init; }

    /// <summary>Records read and not yet complete.</summary>
    public required int Buffered { get; init; }

    /// <summary>Lanes (keys) holding records.</summary>
    public required int ActiveLanes { get; init; }

    /// <summary>Lanes whose head record is retrying or waiting for the dead-letter sink.</summary>
    public required int BlockedLanes { get; init; }

    /// <summary>Records read that the saved checkpoints do not cover yet.</summary>
    public required long CheckpointLag { get; init; }

    /// <summary>Consecutive failed dead-letter writes (0 when the sink is healthy).</summary>
    public required int ConsecutiveSinkFailures { get; init; }

    /// <summary>When a checkpoint was last saved, if ever.</summary>
    public DateTimeOffset? LastCheckpointAt { get; init; }

    /// <summary>The last unrecoverable fault reported, if any.</summary>
    public Exception? Fault { get; init; }

    /// <summary>
    /// Shards whose reader is failing (retrying with back-off) or failed fatally (the consumer then stopped), fatal ones
    /// first. Empty when every reader is fine; a shard leaves the list after its next successful read.
    /// </summary>
    public IReadOnlyList<ShardReaderFault> ReaderFaults { get; init; } = [];
}

/// <summary>A shard reader's failure, as the status reports it: no payloads, no exception message.</summary>
public sealed record ShardReaderFault
{
    /// <summary>The shard whose reader failed.</summary>
    public required string ShardId { get; init; }

    /// <summary>The full name of the last failure's exception type.</summary>
    public required string ExceptionType { get; init; }

    /// <summary>Whether the failure cannot be healed by retrying; the consumer then stopped.</summary>
    public required bool Fatal { get; init; }

    /// <summary>Failures since the reader last read successfully.</summary>
    public required int ConsecutiveFailures { get; init; }

    /// <summary>When the first of these failures happened.</summary>
    public required DateTimeOffset FirstFailedAt { get; init; }

    /// <summary>When the last of these failures happened.</summary>
    public required DateTimeOffset LastFailedAt { get; init; }
}
