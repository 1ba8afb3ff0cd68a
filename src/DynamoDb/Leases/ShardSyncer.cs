using Microsoft.Extensions.Logging;
using StreamLanes.Checkpointing;

namespace StreamLanes.DynamoDb;

/// <summary>
/// Creates leases for shards that have none: from a listing of the stream's shards (parents always before their
/// children, so a child's lease never exists without its parents'), or from the children a shard's last read named.
/// </summary>
internal sealed class ShardSyncer(
    ILeaseTable table,
    Func<CancellationToken, Task<IReadOnlyList<ShardDescriptor>>> listShards,
    string initialCheckpoint,
    TimeProvider time,
    ILogger logger)
{
    private long _lastSync;

    /// <summary>When the last full sync finished (a <see cref="TimeProvider"/> timestamp; 0 before the first).</summary>
    public long LastSyncTimestamp => Volatile.Read(ref _lastSync);

    /// <summary>Lists the shards and creates the leases that are missing, parents first.</summary>
    public async Task SyncShardsAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<ShardDescriptor> shards = await listShards(cancellationToken).ConfigureAwait(false);
        IReadOnlyList<Lease> leases = await table.ListAsync(cancellationToken).ConfigureAwait(false);
        var known = leases.Select(lease => lease.LeaseKey).ToHashSet(StringComparer.Ordinal);
        var created = new List<string>();
        foreach (ShardDescriptor shard in ParentsFirst(shards).Where(shard => !known.Contains(shard.ShardId)))
        {
            if (await table.CreateIfAbsentAsync(NewLease(shard), cancellationToken).ConfigureAwait(false))
            {
                created.Add(shard.ShardId);
            }
        }

        if (created.Count > 0)
        {
            LeaseLog.LeasesCreated(logger, table.TableName, string.Join(", ", created));
        }

        Volatile.Write(ref _lastSync, time.GetTimestamp());
    }

    /// <summary>
    /// At a shard's end, from the last read's <c>ChildShards</c>: creates the children's leases (parents and hash range
    /// included) unless they exist. A merged child whose other parent has no lease yet is left to a full shard sync,
    /// which creates parents before children, so that the child is never seen without that parent.
    /// </summary>
    public async Task CreateChildLeasesAsync(string parentShardId, IReadOnlyList<ShardDescriptor> children, CancellationToken cancellationToken)
    {
        foreach (string otherParent in children.SelectMany(child => child.ParentShardIds).Where(parent => parent != parentShardId).Distinct(StringComparer.Ordinal))
        {
            if (await table.GetAsync(otherParent, cancellationToken).ConfigureAwait(false) is null)
            {
                await SyncShardsAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
        }

        var created = new List<string>();
        foreach (ShardDescriptor child in children)
        {
            if (await table.CreateIfAbsentAsync(NewLease(child), cancellationToken).ConfigureAwait(false))
            {
                created.Add(child.ShardId);
            }
        }

        if (created.Count > 0)
        {
            LeaseLog.ChildLeasesCreated(logger, table.TableName, parentShardId, string.Join(", ", created));
        }
    }

    private Lease NewLease(ShardDescriptor shard) => new()
    {
        LeaseKey = shard.ShardId,
        // A child shard holds the records that follow its parents': it is always read from its beginning.
        Checkpoint = shard.ParentShardIds.Count > 0 ? Lease.TrimHorizon : shard.InitialCheckpoint ?? initialCheckpoint,
        ParentShardIds = shard.ParentShardIds,
        StartingHashKey = shard.StartingHashKey,
        EndingHashKey = shard.EndingHashKey,
    };

    /// <summary>The shards with every parent listed before its children, so a child's lease never exists without its parents'.</summary>
    private static List<ShardDescriptor> ParentsFirst(IReadOnlyList<ShardDescriptor> shards)
    {
        var byId = shards.ToDictionary(shard => shard.ShardId, StringComparer.Ordinal);
        var ordered = new List<ShardDescriptor>(shards.Count);
        var placed = new HashSet<string>(StringComparer.Ordinal);
        void Place(ShardDescriptor shard, int depth)
        {
            if (depth > shards.Count || !placed.Add(shard.ShardId))
            {
                return;
            }

            foreach (string parent in shard.ParentShardIds)
            {
                if (byId.TryGetValue(parent, out ShardDescriptor parentShard) && !placed.Contains(parent))
                {
                    Place(parentShard, depth + 1);
                }
            }

            ordered.Add(shard);
        }

        foreach (ShardDescriptor shard in shards)
        {
            Place(shard, 0);
        }

        return ordered;
    }
}
