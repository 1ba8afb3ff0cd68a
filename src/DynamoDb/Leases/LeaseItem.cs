using System.Globalization;
using Amazon.DynamoDBv2.Model;
using StreamLanes.Checkpointing;

namespace StreamLanes.DynamoDb;

/// <summary>
/// A lease as a DynamoDB item, in the Java KCL's shape (its <c>DynamoDBLeaseSerializer</c>): the attribute names and
/// types below are KCL's, so that a table moves between KCL and StreamLanes either way; KCL ignores the attributes it
/// does not know.
/// </summary>
internal static class LeaseItem
{
    public const string Key = "leaseKey";
    public const string Owner = "leaseOwner";
    public const string Counter = "leaseCounter";
    public const string Checkpoint = "checkpoint";
    public const string SubSequence = "checkpointSubSequenceNumber";
    public const string OwnerSwitches = "ownerSwitchesSinceCheckpoint";
    public const string PendingCheckpoint = "pendingCheckpoint";
    public const string PendingSubSequence = "pendingCheckpointSubSequenceNumber";
    public const string PendingState = "pendingCheckpointState";

    /// <summary>KCL's parents attribute (a string set), read by KCL 1.x to 3.x.</summary>
    public const string Parents = "parentShardId";
    public const string Children = "childShardIds";
    public const string StartingHashKey = "startingHashKey";
    public const string EndingHashKey = "endingHashKey";

    /// <summary>KCL 3.x: the worker still checkpointing during a graceful hand-off; a take clears it, as KCL's does.</summary>
    public const string CheckpointOwner = "checkpointOwner";

    /// <summary>StreamLanes' own: the worker the leader asked the owner to hand the lease to (see <see cref="Lease.HandoffTo"/>).</summary>
    public const string HandoffTo = "handoffTo";

    /// <summary>KCL 3.x's index on the owner (keys only), which workers query for their own leases.</summary>
    public const string OwnerIndex = "LeaseOwnerToLeaseKeyIndex";

    /// <summary>KCL 3.x keeps other entities in the lease table, marked with this attribute; leases have none or <c>LEASE</c>.</summary>
    public const string EntityType = "entityType";

    /// <summary>
    /// Where earlier StreamLanes versions wrote the parents: still read, so that their tables keep working, and still
    /// written, so that such a version running beside this one during a rolling upgrade sees the parents too.
    /// </summary>
    public const string LegacyParents = "parentShardIds";

    /// <summary>
    /// StreamLanes' own: the shard's encoded key state (binary), written with the checkpoint in the same conditional
    /// update. KCL ignores it (and keeps it when it updates the item), so a KCL table stays readable by KCL.
    /// </summary>
    public const string KeyState = "streamLanesKeyState";

    /// <summary>StreamLanes' own: which run of <see cref="Owner"/> took the lease (see <see cref="Lease.OwnerIncarnation"/>).</summary>
    public const string Incarnation = "ownerIncarnation";

    public static bool IsLease(Dictionary<string, AttributeValue> item)
        => !item.TryGetValue(EntityType, out AttributeValue? type) || type.S is null || type.S == "LEASE";

    public static Dictionary<string, AttributeValue> ForNewLease(Lease lease)
    {
        var item = new Dictionary<string, AttributeValue>
        {
            [Key] = new() { S = lease.LeaseKey },
            [Counter] = Number(0),
            [Checkpoint] = new() { S = lease.Checkpoint },
            [SubSequence] = Number(lease.CheckpointSubSequence),
            [OwnerSwitches] = Number(0),
        };
        if (lease.ParentShardIds.Count > 0)
        {
            item[Parents] = new AttributeValue { SS = MultiStreamLeaseKey.ToStored(lease.LeaseKey, lease.ParentShardIds) };
            item[LegacyParents] = new AttributeValue { SS = MultiStreamLeaseKey.ToStored(lease.LeaseKey, lease.ParentShardIds) };
        }

        if (MultiStreamLeaseKey.TryParse(lease.LeaseKey, out string? streamId, out string? shardId))
        {
            // KCL's DynamoDBMultiStreamLeaseSerializer writes both beside the key; KCL reads them back.
            item[MultiStreamLeaseKey.StreamIdAttribute] = new() { S = streamId };
            item[MultiStreamLeaseKey.ShardIdAttribute] = new() { S = shardId };
        }

        if (lease.StartingHashKey is { Length: > 0 } start && lease.EndingHashKey is { Length: > 0 } end)
        {
            item[StartingHashKey] = new() { S = start };
            item[EndingHashKey] = new() { S = end };
        }

        return item;
    }

    public static Lease ToLease(Dictionary<string, AttributeValue> item) => new()
    {
        LeaseKey = item[Key].S,
        Owner = String(item, Owner),
        OwnerIncarnation = String(item, Incarnation),
        Counter = ReadNumber(item, Counter),
        Checkpoint = String(item, Checkpoint) ?? Lease.TrimHorizon,
        CheckpointSubSequence = ReadNumber(item, SubSequence),
        OwnerSwitchesSinceCheckpoint = ReadNumber(item, OwnerSwitches),
        PendingCheckpoint = String(item, PendingCheckpoint) is { Length: > 0 } pending ? pending : null,
        PendingCheckpointSubSequence = ReadNumber(item, PendingSubSequence),
        // In a multi-stream lease KCL stores parents and children as bare shard ids: in memory they are lease keys.
        ParentShardIds = MultiStreamLeaseKey.FromStored(item[Key].S, StringSet(item, Parents).Union(StringSet(item, LegacyParents), StringComparer.Ordinal)),
        ChildShardIds = MultiStreamLeaseKey.FromStored(item[Key].S, StringSet(item, Children)),
        StartingHashKey = String(item, StartingHashKey),
        EndingHashKey = String(item, EndingHashKey),
        KeyState = item.TryGetValue(KeyState, out AttributeValue? keyState) && keyState.B is { Length: > 0 } bytes ? bytes.ToArray() : null,
        HandoffTo = String(item, HandoffTo),
    };

    public static AttributeValue Number(long value) => new() { N = value.ToString(CultureInfo.InvariantCulture) };

    private static string? String(Dictionary<string, AttributeValue> item, string name)
        => item.TryGetValue(name, out AttributeValue? value) ? value.S : null;

    private static List<string> StringSet(Dictionary<string, AttributeValue> item, string name)
        => item.TryGetValue(name, out AttributeValue? value) && value.SS is { Count: > 0 } set ? set : [];

    private static long ReadNumber(Dictionary<string, AttributeValue> item, string name)
        => item.TryGetValue(name, out AttributeValue? value) && value.N is { } n ? long.Parse(n, CultureInfo.InvariantCulture) : 0;
}
