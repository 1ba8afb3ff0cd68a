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

    /// <summary>
    /// The incarnation the leader (or a worker handing a lease over) writes with a lease it gives to a worker: the
    /// previous holder has stopped (the lease was free, expired or handed over), so the new owner starts it at once.
    /// </summary>
    public const string Assigned = "assigned";

    /// <summary>
    /// The incarnation the leader writes when it moves a lease from a live worker that did not hand it over in time:
    /// that worker stops at its next renewal, so the new owner starts one renew interval later, as after a steal.
    /// </summary>
    public const string Reassigned = "reassigned";

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

    /// <summary>
    /// The worker the leader asked the owner to hand this lease to (StreamLanes' own attribute): the owner sees it at
    /// its next renewal, checkpoints what it finished and hands the lease over.
    /// </summary>
    public string? HandoffTo { get; init; }

    public bool IsShardEnd => Checkpoint == "SHARD_END";

    /// <summary>The checkpoint as a position: <see cref="SequenceNumber.None"/> while it is still an initial-position sentinel.</summary>
    public SequenceNumber Position => Checkpoint is TrimHorizon or Latest or AtTimestamp ? SequenceNumber.None : SequenceNumber.Parse(Checkpoint, CheckpointSubSequence);

    /// <summary>
    /// The lease as a fenced checkpoint write at <paramref name="position"/> (not <see cref="SequenceNumber.None"/>)
    /// leaves it, in every lease table: the counter moves, the pending (two-phase) checkpoint is cleared as KCL's own
    /// checkpoint clears it, <c>SHARD_END</c> records the children when they are known, and a key state replaces the
    /// saved one (an empty one removes it; null keeps it).
    /// </summary>
    public Lease Checkpointed(SequenceNumber position, IReadOnlyList<string>? childShardIds, byte[]? keyState) => this with
    {
        Counter = Counter + 1,
        Checkpoint = position.Value!,
        CheckpointSubSequence = position.SubSequence,
        OwnerSwitchesSinceCheckpoint = 0,
        PendingCheckpoint = null,
        PendingCheckpointSubSequence = 0,
        ChildShardIds = position.IsShardEnd && childShardIds is { Count: > 0 } ? [.. childShardIds] : ChildShardIds,
        KeyState = keyState is null ? KeyState : keyState.Length == 0 ? null : keyState,
    };
}

/// <summary>A shard as the source lists it, with the parents it was split or merged from.</summary>
/// <param name="ShardId">The shard id.</param>
/// <param name="ParentShardIds">Its parents (none for an original shard; two after a merge).</param>
/// <param name="StartingHashKey">The lowest hash key it owns (Kinesis), or null.</param>
/// <param name="EndingHashKey">The highest hash key it owns (Kinesis), or null.</param>
/// <param name="InitialCheckpoint">Where the shard starts when it has no parents, or null for the source's own (a multi-stream source's per-stream starting position).</param>
internal readonly record struct ShardDescriptor(string ShardId, IReadOnlyList<string> ParentShardIds, string? StartingHashKey = null, string? EndingHashKey = null, string? InitialCheckpoint = null);

/// <summary>A worker's announcement in the lease table: its id, the run and a counter it bumps every renew interval.</summary>
/// <param name="WorkerId">The worker id.</param>
/// <param name="Incarnation">The run that wrote it last.</param>
/// <param name="Counter">Bumped by every heartbeat: a counter that stops moving for the failover time marks a dead worker.</param>
internal sealed record WorkerHeartbeat(string WorkerId, string? Incarnation, long Counter);

/// <summary>The leader lock: which worker (and run) assigns leases, and the counter it bumps to keep the lock.</summary>
/// <param name="Owner">The leader's worker id.</param>
/// <param name="Incarnation">The leader's run.</param>
/// <param name="Counter">Bumped at every renewal; a counter that stops moving for the failover time frees the lock.</param>
internal sealed record LeaderLock(string Owner, string Incarnation, long Counter);

/// <summary>What the leader reads in one pass over the table: every lease and every worker's heartbeat.</summary>
/// <param name="Leases">The leases.</param>
/// <param name="Workers">The heartbeats.</param>
internal sealed record LeaseTableSnapshot(IReadOnlyList<Lease> Leases, IReadOnlyList<WorkerHeartbeat> Workers);

/// <summary>Thrown when a conditional write finds that another worker owns the lease now.</summary>
internal sealed class LeaseLostException(string message) : Exception(message);
