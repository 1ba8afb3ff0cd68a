namespace StreamLanes;

/// <summary>The runtime's side of <see cref="StreamConsumerInspectionExtensions.Inspect"/>.</summary>
internal sealed partial class StreamConsumerRuntime
{
    internal StreamConsumerDetails Inspect(int maxKeys)
    {
        // Read before the shards: the worker id exists once the source started (the coordinator is created there).
        string? workerId = _running && _source is ILeasedSource leased ? leased.WorkerId : null;
        var shards = new List<ShardDetails>();
        var blocked = new List<BlockedKeyDetails>();
        foreach (ShardProcessor shard in _shards.Values)
        {
            shards.Add(shard.Inspect(workerId, blocked));
        }

        shards.Sort(static (a, b) => string.CompareOrdinal(a.ShardId, b.ShardId));

        // Longest-failing first: the key an operator is paged for is the one that has waited longest.
        blocked.Sort(static (a, b) => Nullable.Compare(a.LatestFailedAt, b.LatestFailedAt) is var byTime && byTime != 0 ? byTime : string.CompareOrdinal(a.Key, b.Key));
        KeyValuePair<string, string>[] parked = [.. _parkedKeys];
        Array.Sort(parked, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return new StreamConsumerDetails
        {
            Status = GetStatus(),
            SourceKind = _source.Kind,
            StreamName = _source.StreamName,
            FailureMode = _options.FailureMode,
            WorkerId = workerId,
            Shards = shards,
            BlockedKeys = blocked.Count > maxKeys ? blocked[..maxKeys] : blocked,
            ParkedKeys = [.. parked.Take(maxKeys).Select(p => DescribeParked(p.Key, p.Value))],
            ParkedKeyCount = parked.Length,
        };
    }

    private ParkedKeyDetails DescribeParked(string key, string sequenceNumber)
    {
        lock (_parkedOrigins)
        {
            _parkedOrigins.TryGetValue(key, out ParkedKey? origin);
            return new ParkedKeyDetails(key, sequenceNumber) { ShardId = origin is null ? null : string.Join(",", origin.ShardIds), DeadLetterId = origin?.State.DeadLetterId };
        }
    }
}
