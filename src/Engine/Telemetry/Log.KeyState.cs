using Microsoft.Extensions.Logging;

namespace StreamLanes;

// The durable key state's messages; keys and positions are escaped by the callers.
internal static partial class Log
{
    [LoggerMessage(60, LogLevel.Information, "Consumer {Consumer}: key {PartitionKey} is parked again from shard {Shard}'s saved key state (parked by the record at {SequenceNumber}).")]
    public static partial void KeyParkedFromState(ILogger logger, string consumer, string partitionKey, string shard, string sequenceNumber);

    [LoggerMessage(61, LogLevel.Information, "Consumer {Consumer}: shard {Shard} resumes with a saved incomplete set of {Lanes} lanes between checkpoint {Checkpoint} and {FurthestRead}; only records not known complete are handled again.")]
    public static partial void ResumingWithIncompleteSet(ILogger logger, string consumer, string shard, int lanes, string checkpoint, string furthestRead);

    [LoggerMessage(62, LogLevel.Information, "Consumer {Consumer}: shard {Shard}'s saved incomplete set does not apply (it was saved with checkpoint {SavedWith}, the shard resumes after {Checkpoint}, or the lane key changed); its records after the checkpoint are all handled again.")]
    public static partial void IncompleteSetIgnored(ILogger logger, string consumer, string shard, string savedWith, string checkpoint);

    [LoggerMessage(63, LogLevel.Warning, "Consumer {Consumer}: shard {Shard}'s incomplete set ({Lanes} lanes) exceeds MaxKeyStateBytes ({MaxBytes}); the checkpoint is saved without it, so a restart would handle its records after the checkpoint again.")]
    public static partial void KeyStateOversize(ILogger logger, string consumer, string shard, int lanes, int maxBytes);

    [LoggerMessage(64, LogLevel.Information, "Consumer {Consumer}: shard {Shard} resumed past {Skipped} records its saved key state knew were complete.")]
    public static partial void SkippedCompleteRecords(ILogger logger, string consumer, string shard, long skipped);

    [LoggerMessage(65, LogLevel.Error, "Consumer {Consumer}: shard {Shard}'s {Keys} parked keys take {Bytes} bytes, above the {MaxBytes} bytes a shard's key state may hold; its checkpoint is held at the last one saved (records after it will be read again after a restart) until parked keys are released or replayed.")]
    public static partial void ParkedKeysOverflow(ILogger logger, string consumer, string shard, int keys, int bytes, int maxBytes);

    [LoggerMessage(66, LogLevel.Information, "Consumer {Consumer}: shard {Shard}'s parked keys fit its key state again; its checkpoint is saved again.")]
    public static partial void ParkedKeysFitAgain(ILogger logger, string consumer, string shard);
}
