namespace StreamLanes;

/// <summary>
/// What an operator's view needs beyond <see cref="StreamConsumerStatus"/>: the source, each shard's lanes, and the keys
/// that are blocked or parked. A snapshot taken by <see cref="StreamConsumerInspectionExtensions.Inspect"/>; no payloads.
/// </summary>
public sealed record StreamConsumerDetails
{
    /// <summary>The consumer's counters and state.</summary>
    public required StreamConsumerStatus Status { get; init; }

    /// <summary>The kind of source.</summary>
    public required SourceKind SourceKind { get; init; }

    /// <summary>The stream, table stream or queue name (as configured: stream-supplied, escape it before display).</summary>
    public required string StreamName { get; init; }

    /// <summary>What happens to a key whose record finally fails.</summary>
    public required KeyFailureMode FailureMode { get; init; }

    /// <summary>For sources with leases (Kinesis, DynamoDB Streams), this worker's lease-owner id; <see langword="null"/> otherwise.</summary>
    public string? WorkerId { get; init; }

    /// <summary>The shards being processed, ordered by shard id.</summary>
    public required IReadOnlyList<ShardDetails> Shards { get; init; }

    /// <summary>Lanes whose head record is retrying or waiting for the dead-letter sink, at most the requested number, longest-failing first.</summary>
    public required IReadOnlyList<BlockedKeyDetails> BlockedKeys { get; init; }

    /// <summary>Keys parked by <see cref="KeyFailureMode.ParkKey"/>, ordered by key, at most the requested number.</summary>
    public required IReadOnlyList<ParkedKeyDetails> ParkedKeys { get; init; }

    /// <summary>All parked keys, including those left out of <see cref="ParkedKeys"/>.</summary>
    public required int ParkedKeyCount { get; init; }
}

/// <summary>One shard as the consumer processes it.</summary>
public sealed record ShardDetails
{
    /// <summary>The shard id.</summary>
    public required string ShardId { get; init; }

    /// <summary>Who holds the shard's lease: this worker's id for leased sources, <see langword="null"/> for sources without leases.</summary>
    public string? LeaseOwner { get; init; }

    /// <summary>The last checkpoint saved for the shard (a sequence number, <c>SHARD_END</c>), or <see langword="null"/> before the first.</summary>
    public string? Checkpoint { get; init; }

    /// <summary>Records read and not yet complete.</summary>
    public required int Buffered { get; init; }

    /// <summary>Lanes (keys) holding records.</summary>
    public required int ActiveLanes { get; init; }

    /// <summary>Lanes whose head record is retrying or waiting for the dead-letter sink.</summary>
    public required int BlockedLanes { get; init; }

    /// <summary>Records read that the saved checkpoint does not cover yet.</summary>
    public required long CheckpointLag { get; init; }
}

/// <summary>A key whose head record is failing: it retries (or waits for the dead-letter sink) while other keys flow.</summary>
public sealed record BlockedKeyDetails
{
    /// <summary>The shard.</summary>
    public required string ShardId { get; init; }

    /// <summary>The lane key (the partition key unless the consumer chose another).</summary>
    public required string Key { get; init; }

    /// <summary>The failing record's sequence number; <see langword="null"/> when its attempts are over and it waits for the dead-letter sink.</summary>
    public string? SequenceNumber { get; init; }

    /// <summary>The failing record's attempts so far (the first included); 0 when it waits for the dead-letter sink.</summary>
    public required int Attempts { get; init; }

    /// <summary>Records of the key waiting behind it, the failing one included.</summary>
    public required int QueuedRecords { get; init; }

    /// <summary>The full name of the latest attempt's exception type, if an attempt failed.</summary>
    public string? LatestExceptionType { get; init; }

    /// <summary>The latest attempt's exception message (it may quote stream data: escape it before display).</summary>
    public string? LatestError { get; init; }

    /// <summary>When the latest attempt failed.</summary>
    public DateTimeOffset? LatestFailedAt { get; init; }
}

/// <summary>A key parked by <see cref="KeyFailureMode.ParkKey"/>.</summary>
/// <param name="Key">The lane key.</param>
/// <param name="ParkedBySequenceNumber">The sequence number of the dead letter that parked it.</param>
public sealed record ParkedKeyDetails(string Key, string ParkedBySequenceNumber)
{
    /// <summary>
    /// The shard whose checkpoint carries the parked key: where it was parked, or the child shard that took it over after
    /// a split or merge (several, comma-separated, when the stream does not say which child holds the key, as for
    /// DynamoDB Streams); <see langword="null"/> when unknown.
    /// </summary>
    public string? ShardId { get; init; }

    /// <summary>The id of the dead letter that parked the key (consumer/stream/shard/sequence/sub-sequence); <see langword="null"/> when unknown.</summary>
    public string? DeadLetterId { get; init; }
}
