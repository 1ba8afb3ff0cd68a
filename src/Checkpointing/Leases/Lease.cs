namespace StreamLanes.Checkpointing;

/// <summary>One row of the lease table, as last read or written.</summary>
internal sealed record Lease
{
    /// <summary>The checkpoint a new lease starts with when the stream is read from its oldest record.</summary>
    public const string TrimHorizon = "TRIM_HORIZON";

    /// <summary>The checkpoint a new lease starts with when the stream is read from new records only.</summary>
    public const string Latest = "LATEST";

    /// <summary>The checkpoint a new lease starts with when the stream is read from a point in time.</summary>
    public const string AtTimestamp = "AT_TIMESTAMP";

    public required string LeaseKey { get; init; }

    public string? Owner { get; init; }

    /// <summary>
    /// Which run of the owning worker took the lease (StreamLanes' own attribute, ignored by KCL): tells a lease this
    /// process holds or gave up from one a previous (or later) process with the same <c>WorkerId</c> holds.
    /// </summary>
    public string? OwnerIncarnation { get; init; }

    public long Counter { get; init; }

    /// <summary>A sequence number, <c>SHARD_END</c>, or the initial-position sentinel the lease was created with.</summary>
    public required string Checkpoint { get; init; }

    public long CheckpointSubSequence { get; init; }

    public long OwnerSwitchesSinceCheckpoint { get; init; }

    /// <summary>KCL's two-phase checkpoint prepared but not committed; read, never written (a checkpoint clears it, as KCL's does).</summary>
    public string? PendingCheckpoint { get; init; }

    public long PendingCheckpointSubSequence { get; init; }

    public IReadOnlyList<string> ParentShardIds { get; init; } = [];

    /// <summary>The shards that continue this one, written with its <c>SHARD_END</c> checkpoint.</summary>
    public IReadOnlyList<string> ChildShardIds { get; init; } = [];

    /// <summary>The lowest hash key of the shard (a decimal string), when known.</summary>
    public string? StartingHashKey { get; init; }

    /// <summary>The highest hash key of the shard (a decimal string), when known.</summary>
    public string? EndingHashKey { get; init; }

    /// <summary>
    /// The shard's encoded key state (StreamLanes' own attribute, ignored by KCL), written with the checkpoint; null
    /// when none was saved.
    /// </summary>
    public byte[]? KeyState { get; init; }

    public bool IsShardEnd => Checkpoint == "SHARD_END";

    /// <summary>The checkpoint as a position: <see cref="SequenceNumber.None"/> while it is still an initial-position sentinel.</summary>
    public SequenceNumber Position => Checkpoint is TrimHorizon or Latest or AtTimestamp ? SequenceNumber.None : SequenceNumber.Parse(Checkpoint, CheckpointSubSequence);
}

/// <summary>A shard as the source lists it, with the parents it was split or merged from.</summary>
/// <param name="ShardId">The shard id.</param>
/// <param name="ParentShardIds">Its parents (none for an original shard; two after a merge).</param>
/// <param name="StartingHashKey">The lowest hash key it owns (Kinesis), or null.</param>
/// <param name="EndingHashKey">The highest hash key it owns (Kinesis), or null.</param>
/// <param name="InitialCheckpoint">Where the shard starts when it has no parents, or null for the source's own (a multi-stream source's per-stream starting position).</param>
internal readonly record struct ShardDescriptor(string ShardId, IReadOnlyList<string> ParentShardIds, string? StartingHashKey = null, string? EndingHashKey = null, string? InitialCheckpoint = null);

/// <summary>Thrown when a conditional write finds that another worker owns the lease now.</summary>
internal sealed class LeaseLostException(string message) : Exception(message);
