using System.Globalization;
using StreamLanes.Checkpointing;

namespace StreamLanes.DynamoDb;

/// <summary>The take round and the creation of leases for new shards.</summary>
internal sealed partial class LeaseCoordinator
{
    /// <summary>How a lease that names this worker's id but is not held by this run relates to this run.</summary>
    private enum OwnRun
    {
        /// <summary>Not this worker's id, or held by this run.</summary>
        None,

        /// <summary>This run gave it up (renewals failed) or a take of it seemed to fail: still this run's to take.</summary>
        Same,

        /// <summary>An earlier run (a restart with a stable id), or a run of a version without incarnations.</summary>
        Earlier,

        /// <summary>A later run with the same id has started: this run yields to it (the lease counts as another worker's).</summary>
        Later,
    }

    /// <summary>
    /// One take round: reads the table, then takes unowned and expired leases up to an even share, leases an earlier
    /// run of this worker left, or one stolen from the most loaded worker; public so tests can drive rounds.
    /// </summary>
    /// <remarks>
    /// A lease left by an earlier run of this worker id is taken at once, without waiting for expiry: the take bumps
    /// the counter, so the earlier run, if it is still alive, is refused at its next renewal or checkpoint and stops
    /// the shard. Its records are read only one failover time later, because until then that earlier run may still
    /// be processing: connected, it is fenced within one renew interval; cut off from the table, it gives the lease up
    /// itself once it could not renew for two thirds of the failover time, counted from its last renewal, which came
    /// before this take. Either way it has stopped before this run starts, so no key runs on both.
    /// </remarks>
    public async Task TakeRoundAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<Lease> leases = await _table.ListAsync(cancellationToken).ConfigureAwait(false);
        long now = _time.GetTimestamp();
        var byKey = new Dictionary<string, Lease>(StringComparer.Ordinal);
        foreach (Lease lease in leases)
        {
            byKey[lease.LeaseKey] = lease;
            if (!_observed.TryGetValue(lease.LeaseKey, out (long Counter, long Since) seen) || seen.Counter != lease.Counter)
            {
                _observed[lease.LeaseKey] = (lease.Counter, now);
            }
        }

        bool Held(Lease lease) => _held.ContainsKey(lease.LeaseKey);

        bool Expired(Lease lease) => lease.Owner is null
            || (!Held(lease) && _time.GetElapsedTime(_observed[lease.LeaseKey].Since, now) > _options.FailoverTime);

        bool Reclaimable(Lease lease) => RunOf(lease) is OwnRun.Same or OwnRun.Earlier;

        // Parents first: a child shard's records come after its parents', so it waits for them to end.
        bool Eligible(Lease lease) => !lease.IsShardEnd
            && lease.ParentShardIds.All(parent => !byKey.TryGetValue(parent, out Lease? p) || p.IsShardEnd);

        List<Lease> active = [.. leases.Where(Eligible)];
        var counts = active.Where(lease => lease.Owner is not null && !Held(lease) && !Reclaimable(lease) && !Expired(lease))
            .GroupBy(lease => lease.Owner == WorkerId ? $"{lease.Owner} ({lease.OwnerIncarnation})" : lease.Owner!)
            .ToDictionary(group => group.Key, group => group.ToList());
        int mine = _held.Count;
        int workers = counts.Count + 1;
        int target = Math.Min(_options.MaxLeasesPerWorker, (active.Count + workers - 1) / workers);
        if (!_taking || mine >= target)
        {
            return;
        }

        // This worker's own leases from an earlier run come first: they are the ones it is expected to resume.
        var toTake = active.Where(Reclaimable).Select(lease => (Lease: lease, How: RunOf(lease) == OwnRun.Same ? TakeKind.Own : TakeKind.EarlierRun))
            .Concat(active.Where(lease => !Held(lease) && !Reclaimable(lease) && Expired(lease)).OrderBy(_ => Random.Shared.Next()).Select(lease => (Lease: lease, How: TakeKind.Free)))
            .Take(target - mine)
            .ToList();

        // Never steal from a run with this worker's own id: the two would take the same leases back and forth.
        var stealable = counts.Where(pair => pair.Value[0].Owner != WorkerId).ToList();
        if (toTake.Count == 0 && _options.MaxLeasesToStealAtOneTime > 0 && stealable.Count > 0)
        {
            KeyValuePair<string, List<Lease>> mostLoaded = stealable.MaxBy(pair => pair.Value.Count);
            if (mostLoaded.Value.Count > target || mostLoaded.Value.Count > mine + 1)
            {
                toTake = [.. mostLoaded.Value.OrderBy(_ => Random.Shared.Next())
                    .Take(Math.Min(_options.MaxLeasesToStealAtOneTime, target - mine))
                    .Select(lease => (Lease: lease, How: TakeKind.Stolen))];
            }
        }

        foreach ((Lease lease, TakeKind how) in toTake)
        {
            await TakeAsync(lease, how, cancellationToken).ConfigureAwait(false);
        }
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
            if (await _table.GetAsync(otherParent, cancellationToken).ConfigureAwait(false) is null)
            {
                await SyncShardsAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
        }

        var created = new List<string>();
        foreach (ShardDescriptor child in children)
        {
            if (await _table.CreateIfAbsentAsync(NewLease(child), cancellationToken).ConfigureAwait(false))
            {
                created.Add(child.ShardId);
            }
        }

        if (created.Count > 0)
        {
            LeaseLog.ChildLeasesCreated(_logger, _table.TableName, parentShardId, string.Join(", ", created));
        }
    }

    public async Task SyncShardsAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<ShardDescriptor> shards = await _listShards(cancellationToken).ConfigureAwait(false);
        IReadOnlyList<Lease> leases = await _table.ListAsync(cancellationToken).ConfigureAwait(false);
        var known = leases.Select(lease => lease.LeaseKey).ToHashSet(StringComparer.Ordinal);
        var created = new List<string>();
        foreach (ShardDescriptor shard in ParentsFirst(shards).Where(shard => !known.Contains(shard.ShardId)))
        {
            if (await _table.CreateIfAbsentAsync(NewLease(shard), cancellationToken).ConfigureAwait(false))
            {
                created.Add(shard.ShardId);
            }
        }

        if (created.Count > 0)
        {
            LeaseLog.LeasesCreated(_logger, _table.TableName, string.Join(", ", created));
        }

        _lastShardSync = _time.GetTimestamp();
    }

    private enum TakeKind
    {
        Free,
        Stolen,
        Own,
        EarlierRun,
    }

    private OwnRun RunOf(Lease lease)
    {
        if (lease.Owner != WorkerId || _held.ContainsKey(lease.LeaseKey))
        {
            return OwnRun.None;
        }

        if (lease.OwnerIncarnation == Incarnation)
        {
            return OwnRun.Same;
        }

        return StartTicks(lease.OwnerIncarnation) <= StartTicks(Incarnation) ? OwnRun.Earlier : OwnRun.Later;
    }

    private static long StartTicks(string? incarnation)
        => incarnation is { Length: > 19 } && long.TryParse(incarnation.AsSpan(0, 19), NumberStyles.None, CultureInfo.InvariantCulture, out long ticks) ? ticks : long.MinValue;

    private async Task TakeAsync(Lease lease, TakeKind how, CancellationToken cancellationToken)
    {
        Lease taken;
        try
        {
            taken = await _table.TakeAsync(lease, WorkerId, Incarnation, cancellationToken).ConfigureAwait(false);
        }
        catch (LeaseLostException)
        {
            return; // another worker was faster, or the owner renewed: look again next round
        }

        var held = new HeldLease(_table, taken, _time.GetTimestamp());
        _held[taken.LeaseKey] = held;
        _observed[taken.LeaseKey] = (taken.Counter, _time.GetTimestamp());
        LeaseLog.LeaseTaken(_logger, WorkerId, taken.LeaseKey, lease.Owner ?? "nobody", how switch
        {
            TakeKind.Stolen => "balancing",
            TakeKind.Own => "given up earlier by this run",
            TakeKind.EarlierRun => "left by an earlier run of this worker id",
            _ => lease.Owner is null ? "unowned" : "expired",
        });

        // The previous holder stops within one renew interval (stolen: its renewal fails) or within one failover time
        // (an earlier run of this id: fenced, or giving up for want of renewals); starting before could run one key's
        // records in two places at once.
        TimeSpan? delay = how switch
        {
            TakeKind.Stolen => RenewInterval + (RenewInterval / 5),
            TakeKind.EarlierRun => _options.FailoverTime + (RenewInterval / 5),
            _ => null,
        };
        if (delay is TimeSpan wait)
        {
            Task start = StartLaterAsync(held, wait, _stop.Token);
            lock (_delayedStarts)
            {
                _delayedStarts.RemoveAll(task => task.IsCompleted);
                _delayedStarts.Add(start);
            }
        }
        else
        {
            await _listener.OnLeaseAcquiredAsync(held, cancellationToken).ConfigureAwait(false);
        }
    }

    private Lease NewLease(ShardDescriptor shard) => new()
    {
        LeaseKey = shard.ShardId,
        // A child shard holds the records that follow its parents': it is always read from its beginning.
        Checkpoint = shard.ParentShardIds.Count > 0 ? Lease.TrimHorizon : _initialCheckpoint,
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
