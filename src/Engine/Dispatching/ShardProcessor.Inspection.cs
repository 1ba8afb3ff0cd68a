namespace StreamLanes;

/// <summary>The shard's side of <see cref="StreamConsumerInspectionExtensions.Inspect"/>.</summary>
internal sealed partial class ShardProcessor
{
    /// <summary>Describes the shard and adds its blocked lanes to <paramref name="blocked"/>; holds the shard's lock for one pass over its lanes.</summary>
    internal ShardDetails Inspect(string? leaseOwner, List<BlockedKeyDetails> blocked)
    {
        int lanes;
        int blockedLanes = 0;
        lock (_lock)
        {
            lanes = _lanes.Count;
            foreach (KeyLane lane in _lanes.Values)
            {
                if (lane.Blocked)
                {
                    blockedLanes++;
                    blocked.Add(lane.DescribeBlocked(ShardId));
                }
            }
        }

        return new ShardDetails
        {
            ShardId = ShardId,
            LeaseOwner = leaseOwner,
            Checkpoint = _savedCheckpoint.IsNone ? null : _savedCheckpoint.ToString(),
            Buffered = BufferedCount,
            ActiveLanes = lanes,
            BlockedLanes = blockedLanes,
            CheckpointLag = CheckpointLag,
        };
    }
}
