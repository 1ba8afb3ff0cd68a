using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using StreamLanes.Checkpointing;

namespace StreamLanes.DynamoDb;

/// <summary>
/// Takes leases and balances them: unowned and expired leases up to an even share, leases an earlier run of this
/// worker id left, or one stolen from the most loaded worker; never a child shard's lease before its parents ended.
/// </summary>
/// <remarks>
/// Expiry is judged by observation, not by comparing clocks: a lease whose counter has not changed for the failover
/// time, by this worker's clock, is expired. A stolen lease is handed to the listener only after one renew interval,
/// by when its previous owner's renewal has failed and it has stopped.
/// </remarks>
internal sealed class LeaseTaker
{
    private readonly ILeaseTable _table;
    private readonly ConcurrentDictionary<string, HeldLease> _held;
    private readonly DynamoDbLeaseOptions _options;
    private readonly string _incarnation;
    private readonly ILeaseListener _listener;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly ILogger _logger;
    private readonly CancellationToken _stopping;
    private readonly Dictionary<string, (long Counter, long Since)> _observed = new(StringComparer.Ordinal);
    private readonly List<Task> _delayedStarts = [];
    private volatile bool _taking = true;

    public LeaseTaker(
        ILeaseTable table,
        ConcurrentDictionary<string, HeldLease> held,
        DynamoDbLeaseOptions options,
        string incarnation,
        ILeaseListener listener,
        TimeProvider time,
        Random random,
        ILogger logger,
        CancellationToken stopping)
    {
        _table = table;
        _held = held;
        _options = options;
        _incarnation = incarnation;
        _listener = listener;
        _time = time;
        _random = random;
        _logger = logger;
        _stopping = stopping;
    }

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

    private enum TakeKind
    {
        Free,
        Stolen,
        Own,
        EarlierRun,

        /// <summary>The leader assigned it (free, expired or handed over): nobody else runs it.</summary>
        Assigned,

        /// <summary>The leader moved it from a live worker that did not hand it over: started as after a steal.</summary>
        Reassigned,
    }

    /// <summary>Whether take rounds still take leases (false once a graceful stop has begun).</summary>
    public bool Taking
    {
        get => _taking;
        set => _taking = value;
    }

    private string WorkerId => _options.WorkerId;

    private TimeSpan RenewInterval => _options.FailoverTime / 3;

    /// <summary>
    /// One take round: reads the table, then takes unowned and expired leases up to an even share, leases an earlier
    /// run of this worker left, or one stolen from the most loaded worker.
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
            .Concat(Shuffled(active.Where(lease => !Held(lease) && !Reclaimable(lease) && Expired(lease))).Select(lease => (Lease: lease, How: TakeKind.Free)))
            .Take(target - mine)
            .ToList();

        // Never steal from a run with this worker's own id: the two would take the same leases back and forth.
        var stealable = counts.Where(pair => pair.Value[0].Owner != WorkerId).ToList();
        if (toTake.Count == 0 && _options.MaxLeasesToStealAtOneTime > 0 && stealable.Count > 0)
        {
            KeyValuePair<string, List<Lease>> mostLoaded = stealable.MaxBy(pair => pair.Value.Count);
            if (mostLoaded.Value.Count > target || mostLoaded.Value.Count > mine + 1)
            {
                toTake = [.. Shuffled(mostLoaded.Value)
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
    /// The leader protocol's round for every worker: the keys of the leases naming this worker, from the owner index,
    /// and for each one this run does not hold, a consistent read and a take: assigned by the leader or handed over
    /// (started at once), moved by force (started one renew interval later), or left by an earlier run of this worker
    /// id or given up by this one (as in <see cref="TakeRoundAsync"/>).
    /// </summary>
    public async Task DiscoverRoundAsync(CancellationToken cancellationToken)
    {
        if (!_taking)
        {
            return;
        }

        foreach (string key in await _table.ListOwnedKeysAsync(WorkerId, cancellationToken).ConfigureAwait(false))
        {
            if (_held.ContainsKey(key) || await _table.GetAsync(key, cancellationToken).ConfigureAwait(false) is not { } lease || lease.Owner != WorkerId || lease.IsShardEnd)
            {
                continue;
            }

            TakeKind? how = lease.OwnerIncarnation switch
            {
                Lease.Assigned => TakeKind.Assigned,
                Lease.Reassigned => TakeKind.Reassigned,
                _ => RunOf(lease) switch
                {
                    OwnRun.Same => TakeKind.Own,
                    OwnRun.Earlier => TakeKind.EarlierRun,
                    _ => null,
                },
            };
            if (how is TakeKind kind && _taking && _held.Count < _options.MaxLeasesPerWorker)
            {
                await TakeAsync(lease, kind, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// On a graceful stop, after the held leases were released: the leases the leader assigned to this worker that it
    /// has not taken yet are released too, so the leader gives them to others at once instead of after expiry.
    /// </summary>
    public async Task ReleaseUntakenAsync(CancellationToken cancellationToken)
    {
        foreach (string key in await _table.ListOwnedKeysAsync(WorkerId, cancellationToken).ConfigureAwait(false))
        {
            if (!_held.ContainsKey(key) && await _table.GetAsync(key, cancellationToken).ConfigureAwait(false) is { OwnerIncarnation: Lease.Assigned or Lease.Reassigned } lease && lease.Owner == WorkerId)
            {
                try
                {
                    await _table.ReleaseAsync(lease, cancellationToken).ConfigureAwait(false);
                }
                catch (LeaseLostException)
                {
                }
            }
        }
    }

    /// <summary>Waits for the delayed hand-overs of stolen and earlier-run leases (they end when stopping is signalled).</summary>
    public Task WhenDelayedStartsEndAsync()
    {
        lock (_delayedStarts)
        {
            return Task.WhenAll([.. _delayedStarts]);
        }
    }

    private static long StartTicks(string? incarnation)
        => incarnation is { Length: > 19 } && long.TryParse(incarnation.AsSpan(0, 19), NumberStyles.None, CultureInfo.InvariantCulture, out long ticks) ? ticks : long.MinValue;

    /// <summary>A random order (so that workers do not all go for the same lease), from the injected randomizer.</summary>
    private List<Lease> Shuffled(IEnumerable<Lease> leases)
    {
        lock (_random)
        {
            return [.. leases.OrderBy(_ => _random.Next())];
        }
    }

    private OwnRun RunOf(Lease lease)
    {
        if (lease.Owner != WorkerId || _held.ContainsKey(lease.LeaseKey))
        {
            return OwnRun.None;
        }

        if (lease.OwnerIncarnation == _incarnation)
        {
            return OwnRun.Same;
        }

        return StartTicks(lease.OwnerIncarnation) <= StartTicks(_incarnation) ? OwnRun.Earlier : OwnRun.Later;
    }

    private async Task TakeAsync(Lease lease, TakeKind how, CancellationToken cancellationToken)
    {
        Lease taken;
        try
        {
            taken = await _table.TakeAsync(lease, WorkerId, _incarnation, cancellationToken).ConfigureAwait(false);
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
            TakeKind.Assigned => "assigned by the leader",
            TakeKind.Reassigned => "moved by the leader",
            TakeKind.Own => "given up earlier by this run",
            TakeKind.EarlierRun => "left by an earlier run of this worker id",
            _ => lease.Owner is null ? "unowned" : "expired",
        });

        // The previous holder stops within one renew interval (stolen: its renewal fails) or within one failover time
        // (an earlier run of this id: fenced, or giving up for want of renewals); starting before could run one key's
        // records in two places at once.
        TimeSpan? delay = how switch
        {
            TakeKind.Stolen or TakeKind.Reassigned => RenewInterval + (RenewInterval / 5),
            TakeKind.EarlierRun => _options.FailoverTime + (RenewInterval / 5),
            _ => null,
        };
        if (delay is TimeSpan wait)
        {
            Task start = StartLaterAsync(held, wait, _stopping);
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

    private async Task StartLaterAsync(HeldLease lease, TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            if (!lease.IsLost && _held.ContainsKey(lease.ShardId))
            {
                await _listener.OnLeaseAcquiredAsync(lease, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            LeaseLog.RoundFailed(_logger, ex, WorkerId, _table.TableName);
        }
    }
}
