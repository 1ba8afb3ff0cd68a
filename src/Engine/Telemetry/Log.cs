using Microsoft.Extensions.Logging;
using StreamLanes.Sinks;

namespace StreamLanes;

// Payloads are never logged: records are identified by stream, shard, sequence number and partition key only.
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Stream consumer {Consumer} started on {SourceKind} source {Stream}.")]
    public static partial void ConsumerStarted(ILogger logger, string consumer, SourceKind sourceKind, string stream);

    [LoggerMessage(2, LogLevel.Information, "Stream consumer {Consumer} stopped: {Remaining} records left incomplete for the next run.")]
    public static partial void ConsumerStopped(ILogger logger, string consumer, int remaining);

    [LoggerMessage(3, LogLevel.Information, "Consumer {Consumer} opened shard {Shard} after position {Position}.")]
    public static partial void ShardOpened(ILogger logger, string consumer, string shard, string position);

    [LoggerMessage(4, LogLevel.Information, "Consumer {Consumer} reached the end of shard {Shard} and checkpointed SHARD_END.")]
    public static partial void ShardEnded(ILogger logger, string consumer, string shard);

    [LoggerMessage(5, LogLevel.Warning, "Consumer {Consumer} abandoned shard {Shard} (lease lost): {Buffered} buffered records left for the new owner.")]
    public static partial void ShardAbandoned(ILogger logger, string consumer, string shard, int buffered);

    [LoggerMessage(6, LogLevel.Warning, "Consumer {Consumer}: record {Shard}/{SequenceNumber} (key {PartitionKey}) was dead-lettered: {Reason} after {Attempts} attempts.")]
    public static partial void RecordDeadLettered(ILogger logger, string consumer, string shard, string sequenceNumber, string partitionKey, DeadLetterReason reason, int attempts);

    [LoggerMessage(7, LogLevel.Error, "Consumer {Consumer}: writing the dead letter for {Shard}/{SequenceNumber} failed ({Failures} consecutive failures); retrying in {Delay}. The key waits and the checkpoint holds.")]
    public static partial void SinkWriteFailed(ILogger logger, Exception exception, string consumer, string shard, string sequenceNumber, int failures, TimeSpan delay);

    [LoggerMessage(8, LogLevel.Warning, "Consumer {Consumer}: saving the checkpoint of shard {Shard} failed; it is retried at the next interval.")]
    public static partial void CheckpointFailed(ILogger logger, Exception exception, string consumer, string shard);

    [LoggerMessage(9, LogLevel.Warning, "Consumer {Consumer}: the checkpoint of shard {Shard} was refused because this worker no longer holds its lease.")]
    public static partial void CheckpointFenced(ILogger logger, string consumer, string shard);

    [LoggerMessage(10, LogLevel.Debug, "Consumer {Consumer}: attempt {Attempt} for {Shard}/{SequenceNumber} (key {PartitionKey}) failed; retrying.")]
    public static partial void AttemptFailed(ILogger logger, Exception exception, string consumer, int attempt, string shard, string sequenceNumber, string partitionKey);

    [LoggerMessage(11, LogLevel.Warning, "Consumer {Consumer}: drain timed out after {Timeout} with {Remaining} records incomplete; cancelling their handlers.")]
    public static partial void DrainTimedOut(ILogger logger, string consumer, TimeSpan timeout, int remaining);

    [LoggerMessage(12, LogLevel.Critical, "Consumer {Consumer}: the source reported a fault it cannot recover from.")]
    public static partial void SourceFault(ILogger logger, Exception exception, string consumer);

    [LoggerMessage(13, LogLevel.Critical, "Consumer {Consumer}: processing of key {PartitionKey} on shard {Shard} stopped on an unexpected error; the shard's checkpoint will not pass it.")]
    public static partial void LaneFaulted(ILogger logger, Exception exception, string consumer, string shard, string partitionKey);

    [LoggerMessage(14, LogLevel.Information, "Consumer {Consumer}: key {PartitionKey} parked behind dead letter {SequenceNumber}; its later records are dead-lettered until it is released.")]
    public static partial void KeyParked(ILogger logger, string consumer, string partitionKey, string sequenceNumber);

    [LoggerMessage(15, LogLevel.Information, "Consumer {Consumer}: key {PartitionKey} released.")]
    public static partial void KeyReleased(ILogger logger, string consumer, string partitionKey);
}
