namespace StreamLanes.Benchmarks.Harness;

/// <summary>The three orderings compared, all built from the same engine with <c>WithLaneKey</c>: only the lane key differs.</summary>
internal enum LaneOrdering
{
    /// <summary>Lane key = shard id: one record at a time per shard, as KCL or Lambda without parallelization.</summary>
    ShardSerial,

    /// <summary>Lane key = shard id + hash(partition key) mod 10: as Lambda's ParallelizationFactor 10.</summary>
    Hashed10,

    /// <summary>Lane key = partition key (the engine's default).</summary>
    PerKey,
}

internal static class LaneKeys
{
    public const int HashedLanesPerShard = 10;

    public static string Label(LaneOrdering ordering) => ordering switch
    {
        LaneOrdering.ShardSerial => "shard-serial",
        LaneOrdering.Hashed10 => "hashed lanes (10 per shard)",
        _ => "per-key lanes",
    };

    /// <summary>The lane-key function for <c>WithLaneKey</c>; null for the default (the partition key).</summary>
    /// <remarks>Called once per record on the reading thread: the hashed lane names are built once, so it allocates nothing.</remarks>
    public static Func<StreamRecord, string>? For(LaneOrdering ordering, IReadOnlyList<string> shardIds)
    {
        switch (ordering)
        {
            case LaneOrdering.ShardSerial:
                return static record => record.ShardId;
            case LaneOrdering.Hashed10:
                Dictionary<string, string[]> lanes = shardIds.ToDictionary(
                    static id => id,
                    static id => Enumerable.Range(0, HashedLanesPerShard).Select(lane => $"{id}/lane-{lane}").ToArray(),
                    StringComparer.Ordinal);
                return record => lanes[record.ShardId][HashedLane(record.PartitionKey)];
            default:
                return null;
        }
    }

    /// <summary>
    /// The hashed lane of a key. The in-memory stream picks shards by FNV-1a mod shard count, so the lane must not be
    /// FNV-1a mod 10 too (with 4 shards, a shard's keys would then use only 5 of its 10 lanes): the hash is scrambled
    /// by MurmurHash3's finalizer first.
    /// </summary>
    public static int HashedLane(string partitionKey)
    {
        uint hash = 2166136261;
        foreach (char c in partitionKey)
        {
            hash = (hash ^ c) * 16777619;
        }

        hash ^= hash >> 16;
        hash *= 0x85ebca6b;
        hash ^= hash >> 13;
        hash *= 0xc2b2ae35;
        hash ^= hash >> 16;
        return (int)(hash % HashedLanesPerShard);
    }
}
