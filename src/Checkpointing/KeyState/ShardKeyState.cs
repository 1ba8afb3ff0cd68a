namespace StreamLanes.Checkpointing;

/// <summary>
/// A shard's per-key state, saved beside its checkpoint in the same write: what a resuming reader needs to skip the
/// records already complete past the checkpoint (the incomplete set) and to keep parked keys parked.
/// </summary>
/// <remarks>
/// The incomplete set relies on one property of key lanes: a lane handles its records one at a time in sequence
/// order, so the complete records of a lane are always a prefix of its records. The furthest position read plus each
/// lagging lane's first incomplete position therefore decide every record between the checkpoint and the furthest
/// position: a record is complete exactly when its lane is not listed or its position comes before its lane's first
/// incomplete one. Lanes are identified by a 64-bit hash of the lane key; two keys with the same hash share the
/// lower of their positions, which can only re-deliver a complete record, never skip an incomplete one.
/// </remarks>
internal sealed class ShardKeyState
{
    /// <summary>The encoding's version; a reader refuses versions it does not know.</summary>
    public const byte CurrentVersion = 1;

    private Dictionary<ulong, SequenceNumber>? _firstIncompleteByHash;

    /// <summary>The checkpoint this state was saved with: the incomplete set is valid only over this checkpoint.</summary>
    public SequenceNumber Checkpoint { get; init; }

    /// <summary>The furthest position read when the state was saved; <see cref="SequenceNumber.None"/> when no incomplete set is saved.</summary>
    public SequenceNumber FurthestRead { get; init; }

    /// <summary>Whether the lanes were keyed by a custom lane key (<c>WithLaneKey</c>) rather than the partition key.</summary>
    public bool CustomLaneKey { get; init; }

    /// <summary>The lanes holding incomplete records, each with its first incomplete position.</summary>
    public IReadOnlyList<IncompleteLane> IncompleteLanes { get; init; } = [];

    /// <summary>The keys parked when the state was saved.</summary>
    public IReadOnlyList<ParkedKeyState> ParkedKeys { get; init; } = [];

    /// <summary>Whether an incomplete set is present (the furthest position read is past the checkpoint).</summary>
    public bool HasIncompleteSet => !FurthestRead.IsNone && !FurthestRead.IsShardEnd && FurthestRead.CompareTo(Checkpoint) > 0;

    /// <summary>Whether the state says nothing: no incomplete set and no parked key.</summary>
    public bool IsEmpty => !HasIncompleteSet && ParkedKeys.Count == 0;

    /// <summary>The hash identifying a lane key in the state: stable across processes and runs.</summary>
    public static ulong HashOf(string laneKey) => StableHash.Fnv1a64(laneKey);

    /// <summary>
    /// Whether the record at <paramref name="position"/> of lane <paramref name="laneKey"/> is certainly complete by
    /// this state: past the checkpoint, at most the furthest position read, and before its lane's first incomplete
    /// record. False whenever in doubt.
    /// </summary>
    public bool IsCertainlyComplete(string laneKey, SequenceNumber position)
    {
        if (!HasIncompleteSet || position.CompareTo(Checkpoint) <= 0 || position.CompareTo(FurthestRead) > 0)
        {
            return false;
        }

        Dictionary<ulong, SequenceNumber> lanes = _firstIncompleteByHash ??= Index(IncompleteLanes);
        return !lanes.TryGetValue(HashOf(laneKey), out SequenceNumber firstIncomplete) || position.CompareTo(firstIncomplete) < 0;
    }

    /// <summary>The same parked keys without the incomplete set: what is left when the set no longer applies.</summary>
    public ShardKeyState WithoutIncompleteSet() => new() { Checkpoint = Checkpoint, CustomLaneKey = CustomLaneKey, ParkedKeys = ParkedKeys };

    private static Dictionary<ulong, SequenceNumber> Index(IReadOnlyList<IncompleteLane> lanes)
    {
        var index = new Dictionary<ulong, SequenceNumber>(lanes.Count);
        foreach (IncompleteLane lane in lanes)
        {
            // A hash shared by two lanes keeps the earlier position: a duplicate at worst, never a skip.
            if (!index.TryGetValue(lane.KeyHash, out SequenceNumber known) || lane.FirstIncomplete.CompareTo(known) < 0)
            {
                index[lane.KeyHash] = lane.FirstIncomplete;
            }
        }

        return index;
    }
}

/// <summary>A lane holding incomplete records: its key's hash and its first incomplete position.</summary>
/// <param name="KeyHash">See <see cref="ShardKeyState.HashOf"/>.</param>
/// <param name="FirstIncomplete">The position of the lane's oldest incomplete record.</param>
internal readonly record struct IncompleteLane(ulong KeyHash, SequenceNumber FirstIncomplete);

/// <summary>A parked key: the position of the record whose dead letter parked it, and that dead letter's id.</summary>
/// <param name="Key">The lane key.</param>
/// <param name="Position">The position of the first parked record.</param>
/// <param name="DeadLetterId">The id of the dead letter that parked the key.</param>
internal sealed record ParkedKeyState(string Key, SequenceNumber Position, string DeadLetterId);
