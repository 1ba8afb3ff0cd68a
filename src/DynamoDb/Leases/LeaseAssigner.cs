using Microsoft.Extensions.Logging;
using StreamLanes.Checkpointing;

namespace StreamLanes.DynamoDb;

/// <summary>
/// The leader's round: one eventually consistent scan of the table, then free and expired leases assigned to the least
/// loaded live workers, and the fewest moves that even out the counts, each a hand-off request the owner carries out
/// gracefully. A worker is live when its heartbeat moved within the failover time (so a worker that just started
/// counts before it holds a lease), or when it renews a lease.
/// </summary>
/// <remarks>
/// Expiry is judged as the taker judges it, by observation: a counter unchanged for the failover time, by the leader's
/// clock. Assignments are writes conditional on the counter the leader saw, so a stale scan costs a refused write,
/// never a lease with two owners. What the leader wrote is remembered until a scan shows it, so that a scan lagging
/// behind the leader's own writes does not plan the same move twice.
/// </remarks>
internal sealed class LeaseAssigner(ILeaseTable table, DynamoDbLeaseOptions options, TimeProvider time, Random random, ILogger logger)
{
    private readonly Dictionary<string, (long Counter, long Since)> _observed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (long Counter, long Since)> _heartbeats = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _firstSeen = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string To, string? From, long Since)> _pending = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string To, long Since)> _handoffs = new(StringComparer.Ordinal);

    /// <summary>Leases assigned (free or expired) by this leader so far.</summary>
    public int Assigned { get; private set; }

    /// <summary>Hand-offs this leader requested so far.</summary>
    public int MovesRequested { get; private set; }

    private TimeSpan Failover => options.FailoverTime;

    /// <summary>Whether this worker has scanned the table at all (it observes once at start, leader or not).</summary>
    public bool HasObserved { get; private set; }

    /// <summary>
    /// A scan that only observes counters, by a worker that may have to lead soon (at start, or while the leader's lock
    /// stands still): elected, it judges expiry from these observations, so a dead leader's leases are free one
    /// failover time after it died rather than two.
    /// </summary>
    public async Task ObserveAsync(CancellationToken cancellationToken) => await ScanAndObserveAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>One round: scan, assign what is free or expired, request the moves that balance the counts.</summary>
    public async Task AssignRoundAsync(CancellationToken cancellationToken)
    {
        (LeaseTableSnapshot snapshot, long now) = await ScanAndObserveAsync(cancellationToken).ConfigureAwait(false);
        var byKey = snapshot.Leases.ToDictionary(lease => lease.LeaseKey, StringComparer.Ordinal);

        bool Expired(Lease lease) => lease.Owner is null || time.GetElapsedTime(_observed[lease.LeaseKey].Since, now) > Failover;

        bool Eligible(Lease lease) => !lease.IsShardEnd
            && lease.ParentShardIds.All(parent => !byKey.TryGetValue(parent, out Lease? p) || p.IsShardEnd);

        var live = new HashSet<string>(StringComparer.Ordinal) { options.WorkerId };
        live.UnionWith(_heartbeats.Where(pair => time.GetElapsedTime(pair.Value.Since, now) <= Failover).Select(pair => pair.Key));

        // A worker renewing a lease is live even without a heartbeat (a version that writes none, during an upgrade).
        List<Lease> active = [.. snapshot.Leases.Where(Eligible)];
        live.UnionWith(active.Where(lease => !Expired(lease)).Select(lease => lease.Owner!));
        ForgetSettled(byKey, now);

        var counts = live.ToDictionary(worker => worker, _ => new List<Lease>(), StringComparer.Ordinal);
        var free = new List<Lease>();
        foreach (Lease lease in active)
        {
            string? owner = _pending.TryGetValue(lease.LeaseKey, out (string To, string? From, long Since) pending) ? pending.To
                : lease.HandoffTo is { } to && live.Contains(to) ? to
                : Expired(lease) ? null
                : lease.Owner;
            if (owner is not null && counts.TryGetValue(owner, out List<Lease>? owned))
            {
                owned.Add(lease);
            }
            else
            {
                free.Add(lease);
            }
        }

        await AssignFreeAsync(Shuffled(free), counts, now, cancellationToken).ConfigureAwait(false);
        await ForgetDeadWorkersAsync(snapshot, now, cancellationToken).ConfigureAwait(false);

        // While workers are still joining (a rolling start), moves wait until none joined for a renew interval: planned
        // for the whole new fleet at once, each lease moves once, instead of first to an early joiner and then on.
        foreach (string worker in _heartbeats.Keys)
        {
            _firstSeen.TryAdd(worker, now);
        }

        foreach (string gone in _firstSeen.Keys.Where(worker => !_heartbeats.ContainsKey(worker)).ToList())
        {
            _firstSeen.Remove(gone);
        }

        bool joining = _firstSeen.Values.Any(since => time.GetElapsedTime(since, now) < options.FailoverTime / 3);
        if (!joining)
        {
            await BalanceAsync(counts, now, cancellationToken).ConfigureAwait(false);
        }
        await ForceStuckHandoffsAsync(active, live, now, cancellationToken).ConfigureAwait(false);
    }

    private async Task<(LeaseTableSnapshot Snapshot, long Now)> ScanAndObserveAsync(CancellationToken cancellationToken)
    {
        LeaseTableSnapshot snapshot = await table.ScanAsync(cancellationToken).ConfigureAwait(false);
        long now = time.GetTimestamp();
        Observe(_observed, snapshot.Leases.Select(lease => (lease.LeaseKey, lease.Counter)), now);
        Observe(_heartbeats, snapshot.Workers.Select(worker => (worker.WorkerId, worker.Counter)), now);
        HasObserved = true;
        return (snapshot, now);
    }

    /// <summary>
    /// Deletes the heartbeats of workers that died (killed, so they never removed theirs) once they stood still for
    /// ten failover times and name no lease: default worker ids are new at every start, and the table would keep them.
    /// </summary>
    private async Task ForgetDeadWorkersAsync(LeaseTableSnapshot snapshot, long now, CancellationToken cancellationToken)
    {
        var owners = snapshot.Leases.Select(lease => lease.Owner).OfType<string>().ToHashSet(StringComparer.Ordinal);
        foreach ((string worker, (long _, long since)) in _heartbeats.ToList())
        {
            if (!owners.Contains(worker) && time.GetElapsedTime(since, now) > Failover * 10)
            {
                await table.RemoveHeartbeatAsync(worker, cancellationToken).ConfigureAwait(false);
                _heartbeats.Remove(worker);
            }
        }
    }

    private static void Observe(Dictionary<string, (long Counter, long Since)> observed, IEnumerable<(string Key, long Counter)> seen, long now)
    {
        var present = new HashSet<string>(StringComparer.Ordinal);
        foreach ((string key, long counter) in seen)
        {
            present.Add(key);
            if (!observed.TryGetValue(key, out (long Counter, long Since) before) || before.Counter != counter)
            {
                observed[key] = (counter, now);
            }
        }

        foreach (string gone in observed.Keys.Where(key => !present.Contains(key)).ToList())
        {
            observed.Remove(gone);
        }
    }

    /// <summary>
    /// Forgets a write of this leader once a scan shows its outcome (the lease left the owner it had, with no request
    /// left on it), or after two failover times: a scan lagging behind the leader's own writes must not undo them.
    /// </summary>
    private void ForgetSettled(Dictionary<string, Lease> byKey, long now)
    {
        foreach ((string key, (string _, string? from, long since)) in _pending.ToList())
        {
            bool settled = !byKey.TryGetValue(key, out Lease? lease) || (lease.Owner != from && lease.HandoffTo is null);
            if (settled || time.GetElapsedTime(since, now) > Failover * 2)
            {
                _pending.Remove(key);
            }
        }
    }

    private async Task AssignFreeAsync(List<Lease> free, Dictionary<string, List<Lease>> counts, long now, CancellationToken cancellationToken)
    {
        foreach (Lease lease in free)
        {
            KeyValuePair<string, List<Lease>> least = counts.Where(pair => pair.Value.Count < options.MaxLeasesPerWorker)
                .OrderBy(pair => pair.Value.Count).ThenBy(pair => pair.Key, StringComparer.Ordinal).FirstOrDefault();
            if (least.Key is null)
            {
                return;
            }

            try
            {
                await table.TakeAsync(lease, least.Key, Lease.Assigned, cancellationToken).ConfigureAwait(false);
            }
            catch (LeaseLostException)
            {
                continue; // renewed or taken since the scan: looked at again next round
            }

            least.Value.Add(lease);
            _pending[lease.LeaseKey] = (least.Key, lease.Owner, now);
            Assigned++;
            LeaseLog.LeaseAssigned(logger, options.WorkerId, lease.LeaseKey, least.Key, lease.Owner ?? "nobody");
        }
    }

    /// <summary>
    /// The fewest moves that leave every live worker within one lease of the others: the most loaded workers keep the
    /// rounded-up share, and only what exceeds a worker's share moves, each lease once.
    /// </summary>
    private async Task BalanceAsync(Dictionary<string, List<Lease>> counts, long now, CancellationToken cancellationToken)
    {
        int total = counts.Values.Sum(owned => owned.Count);
        List<string> workers = [.. counts.OrderByDescending(pair => pair.Value.Count).ThenBy(pair => pair.Key, StringComparer.Ordinal).Select(pair => pair.Key)];
        int share = total / workers.Count, extra = total % workers.Count;
        var target = workers.Select((worker, index) => (worker, Math.Min(options.MaxLeasesPerWorker, share + (index < extra ? 1 : 0))))
            .ToDictionary(pair => pair.worker, pair => pair.Item2, StringComparer.Ordinal);
        var receivers = new Queue<string>(workers.Where(worker => counts[worker].Count < target[worker]).Reverse()
            .SelectMany(worker => Enumerable.Repeat(worker, target[worker] - counts[worker].Count)));
        foreach (string donor in workers.Where(worker => counts[worker].Count > target[worker]))
        {
            // Leases still on their way to the donor first: redirected, they move once instead of twice. Then what the
            // donor holds itself and was not asked to move already.
            List<Lease> movable =
            [
                .. Shuffled(counts[donor].Where(lease => lease.Owner != donor)),
                .. Shuffled(counts[donor].Where(lease => lease.Owner == donor && lease.HandoffTo is null && !_pending.ContainsKey(lease.LeaseKey))),
            ];
            foreach (Lease lease in movable.Take(counts[donor].Count - target[donor]))
            {
                if (!receivers.TryDequeue(out string? receiver))
                {
                    return;
                }

                try
                {
                    await table.RequestHandoffAsync(lease, receiver, cancellationToken).ConfigureAwait(false);
                }
                catch (LeaseLostException)
                {
                    continue;
                }

                _pending[lease.LeaseKey] = (receiver, lease.Owner, now);
                MovesRequested++;
                LeaseLog.HandoffRequested(logger, options.WorkerId, lease.LeaseKey, lease.Owner!, receiver);
            }
        }
    }

    /// <summary>
    /// A hand-off the owner has not carried out within two failover times (a version that does not know the request, or
    /// a shard that cannot drain) is forced: the lease is reassigned with a counter bump that fences the owner, and the
    /// new owner starts it one renew interval later, by when the old one has stopped (as after a steal).
    /// </summary>
    private async Task ForceStuckHandoffsAsync(List<Lease> active, HashSet<string> live, long now, CancellationToken cancellationToken)
    {
        var asked = active.Where(lease => lease.HandoffTo is not null && lease.Owner != lease.HandoffTo).ToDictionary(lease => lease.LeaseKey, StringComparer.Ordinal);
        foreach (string key in _handoffs.Keys.Where(key => !asked.ContainsKey(key)).ToList())
        {
            _handoffs.Remove(key);
        }

        foreach (Lease lease in asked.Values)
        {
            if (!_handoffs.TryGetValue(lease.LeaseKey, out (string To, long Since) seen) || seen.To != lease.HandoffTo)
            {
                _handoffs[lease.LeaseKey] = (lease.HandoffTo!, now);
                continue;
            }

            if (time.GetElapsedTime(seen.Since, now) <= Failover * 2 || !live.Contains(lease.HandoffTo!))
            {
                continue;
            }

            try
            {
                await table.TakeAsync(lease, lease.HandoffTo!, Lease.Reassigned, cancellationToken).ConfigureAwait(false);
                _pending[lease.LeaseKey] = (lease.HandoffTo!, lease.Owner, now);
                LeaseLog.LeaseAssigned(logger, options.WorkerId, lease.LeaseKey, lease.HandoffTo!, $"{lease.Owner} (hand-off not carried out)");
            }
            catch (LeaseLostException)
            {
            }
        }
    }

    private List<Lease> Shuffled(IEnumerable<Lease> leases)
    {
        lock (random)
        {
            return [.. leases.OrderBy(lease => lease.LeaseKey, StringComparer.Ordinal).OrderBy(_ => random.Next())];
        }
    }
}
