using StreamLanes.Checkpointing;
using Xunit.Abstractions;
using static StreamLanes.IntegrationTests.Leases.LeaseWorld;

namespace StreamLanes.IntegrationTests.Leases;

/// <summary>
/// The leader protocol on the in-memory lease table and a driven clock: election and failover of the leader, balanced
/// assignment with the fewest moves, workers counted from their heartbeat before they hold a lease, and the graceful
/// hand-off that resumes a moved lease exactly after what its previous owner finished.
/// </summary>
public sealed class LeaderProtocolClockTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Millisecond = TimeSpan.FromMilliseconds(1);

    [Fact]
    public async Task One_worker_leads_and_another_takes_the_lock_only_after_the_leader_stopped_renewing_it_for_the_failover_time()
    {
        await using var world = new LeaseWorld(Shard("shard-0"));
        var workers = await StartAsync(world, "a", "b", "c");
        Assert.Equal(["a"], workers.Where(w => w.Coordinator.IsLeader).Select(w => w.Id));

        // a is cut off: no more rounds. It is not replaced while the lock's counter still moved within the failover time.
        List<Worker> rest = [.. workers.Skip(1)];
        world.Time.Advance(Failover - Millisecond);
        await RoundAsync(rest, renew: true);
        Assert.DoesNotContain(rest, w => w.Coordinator.IsLeader);

        world.Time.Advance(RenewInterval);
        await RoundAsync(rest, renew: true);
        Assert.Single(rest, w => w.Coordinator.IsLeader);

        // a, back, finds that it lost the lock and stops leading; the lease it held went to the new leader's pick.
        await a(workers).Coordinator.RenewRoundAsync(default);
        Assert.False(a(workers).Coordinator.IsLeader);
        Assert.Single(workers, w => w.Coordinator.IsLeader);

        static Worker a(List<Worker> all) => all[0];
    }

    [Fact]
    public async Task Workers_are_counted_from_their_heartbeat_before_they_hold_a_lease_so_new_shards_are_spread_without_moves()
    {
        await using var world = new LeaseWorld();
        var workers = await StartAsync(world, "a", "b", "c", "d");

        // The stream gets its shards only now: none of b, c, d holds a lease, yet the leader counts all four.
        world.Shards.AddRange(Enumerable.Range(0, 8).Select(i => Shard($"shard-{i}")));
        await workers[0].Coordinator.SyncShardsAsync(default);
        for (int step = 0; step < 2; step++)
        {
            world.Time.Advance(RenewInterval / 2);
            await RoundAsync(workers, renew: step % 2 == 1);
        }

        Assert.All(workers, w => Assert.Equal(2, w.Seen.Running.Count));
        Assert.All(workers, w => Assert.Empty(w.Seen.HandedOff));
        Assert.All(workers, w => Assert.Empty(w.Seen.Lost));
        Assert.Equal((8, 0), workers[0].Coordinator.LeaderActivity);
    }

    [Fact]
    public async Task A_rolling_start_from_one_to_eight_workers_ends_balanced_within_two_renew_intervals_with_moves_close_to_the_minimum()
    {
        (int moves, TimeSpan balancedAfter, int lost) = await RollingStartAsync(LeaseProtocol.Leader);
        (int everyWorkerMoves, TimeSpan everyWorkerBalancedAfter, int everyWorkerLost) = await RollingStartAsync(LeaseProtocol.EveryWorkerTakes);
        output.WriteLine($"leader: {moves} moves, balanced {balancedAfter.TotalSeconds:F1} s after the last start, {lost} lost; every worker takes: {everyWorkerMoves} moves, {everyWorkerBalancedAfter.TotalSeconds:F1} s, {everyWorkerLost} lost (stolen)");
        Assert.InRange(moves, 35, 40);
        Assert.True(balancedAfter <= RenewInterval * 2, $"balanced {balancedAfter} after the last start");
        Assert.Equal(0, lost);
        Assert.True(everyWorkerMoves > moves, "the protocol where every worker takes moved no more than the leader's");
    }

    /// <summary>
    /// 40 shards held by one worker; seven more start, one every half renew interval (a rolling deploy). Moves are
    /// acquisitions of a lease another worker held; 35 is the least that can spread 40 leases over eight workers.
    /// </summary>
    internal static async Task<(int Moves, TimeSpan BalancedAfter, int Lost)> RollingStartAsync(LeaseProtocol protocol)
    {
        await using var world = new LeaseWorld([.. Enumerable.Range(0, 40).Select(i => Shard($"shard-{i:D2}"))]);
        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        int moves = 0;
        async Task<bool> ObserveAsync()
        {
            Dictionary<string, List<string>> now = await world.OwnersAsync();
            foreach ((string owner, List<string> keys) in now.Where(pair => pair.Key != ""))
            {
                foreach (string key in keys)
                {
                    moves += owners.TryGetValue(key, out string? before) && before != owner ? 1 : 0;
                    owners[key] = owner;
                }
            }

            return now.Count == 8 && now.Values.All(keys => keys.Count == 5);
        }

        var workers = await StartAsync(world, protocol, "w1");
        await ObserveAsync();
        for (int started = 2; started <= 8; started++)
        {
            world.Time.Advance(RenewInterval / 2);
            workers.AddRange(await StartAsync(world, protocol, $"w{started}"));
            await RoundAsync(workers, renew: started % 2 == 1);
            await ObserveAsync();
        }

        DateTimeOffset lastStart = world.Time.GetUtcNow();
        for (int step = 0; step < 60 && !await ObserveAsync(); step++)
        {
            world.Time.Advance(RenewInterval / 2);
            await RoundAsync(workers, renew: step % 2 == 0);
        }

        return (moves, world.Time.GetUtcNow() - lastStart, workers.Sum(w => w.Seen.Lost.Count));
    }

    [Fact]
    public async Task A_moved_lease_is_checkpointed_by_its_owner_and_started_by_the_receiver_only_after_the_hand_off_right_after_that_checkpoint()
    {
        await using var world = new LeaseWorld(Shard("shard-0"), Shard("shard-1"));
        var workers = await StartAsync(world, "a");
        Worker a = workers[0];
        Assert.Equal(["shard-0", "shard-1"], a.Seen.Running);

        // a has finished every record up to 42 of whichever shard it must give up.
        a.Seen.FinishedAtHandoff = _ => SequenceNumber.FromInteger(42);
        workers.AddRange(await StartAsync(world, "b"));
        Worker b = workers[1];
        for (int step = 0; step < 4 && b.Seen.Running.Count == 0; step++)
        {
            world.Time.Advance(RenewInterval / 2);
            await RoundAsync(workers, renew: step % 2 == 1);
        }

        (string moved, DateTimeOffset handedOffAt) = Assert.Single(a.Seen.HandedOff);
        Assert.Equal([moved], b.Seen.Running);
        Assert.True(b.Seen.Acquired[0].At >= handedOffAt);
        Assert.Equal(SequenceNumber.FromInteger(42), b.Seen.RunningLease(moved).Current.Position);
        Lease stored = (await world.Table.GetAsync(moved, default))!;
        Assert.Equal(("b", b.Coordinator.Incarnation, (string?)null), (stored.Owner!, stored.OwnerIncarnation!, stored.HandoffTo));

        // A graceful move is not a loss: a stopped the shard once, for the hand-off, and was never fenced.
        Assert.Empty(a.Seen.Lost);
        await Assert.ThrowsAsync<CheckpointFencedException>(async () => await a.Seen.LastLease(moved).SaveAsync(SequenceNumber.FromInteger(43), default));
    }

    [Fact]
    public async Task When_the_leader_dies_another_worker_leads_and_assigns_its_leases_after_the_failover_time_and_not_before()
    {
        await using var world = new LeaseWorld([.. Enumerable.Range(0, 6).Select(i => Shard($"shard-{i}"))]);
        var workers = await StartAsync(world, "a", "b", "c");
        for (int step = 0; step < 6; step++)
        {
            world.Time.Advance(RenewInterval / 2);
            await RoundAsync(workers, renew: step % 2 == 1);
        }

        Worker leader = Assert.Single(workers, w => w.Coordinator.IsLeader);
        Assert.All(workers, w => Assert.Equal(2, w.Seen.Running.Count));
        string[] orphaned = [.. leader.Seen.Running];
        DateTimeOffset diedAt = world.Time.GetUtcNow();
        List<Worker> survivors = [.. workers.Where(w => w != leader)];
        for (int step = 0; step < 16; step++)
        {
            world.Time.Advance(RenewInterval / 2);
            await RoundAsync(survivors, renew: step % 2 == 1);
            if (world.Time.GetUtcNow() - diedAt <= Failover)
            {
                Assert.DoesNotContain(survivors, w => w.Seen.Running.Intersect(orphaned).Any());
            }
        }

        Assert.Single(survivors, w => w.Coordinator.IsLeader);
        Assert.All(survivors, w => Assert.Equal(3, w.Seen.Running.Count));

        // The dead leader's heartbeat stays (it could not remove it) until the new leader forgets it, ten failover times on.
        Assert.Contains(leader.Id, (await world.Table.Inner.ScanAsync(default)).Workers.Select(w => w.WorkerId));
        for (int step = 0; step < 62; step++)
        {
            world.Time.Advance(RenewInterval / 2);
            await RoundAsync(survivors, renew: step % 2 == 1);
        }

        Assert.Equal(survivors.Select(w => w.Id).Order(StringComparer.Ordinal), (await world.Table.Inner.ScanAsync(default)).Workers.Select(w => w.WorkerId).Order(StringComparer.Ordinal));
        Assert.All(orphaned, shard => Assert.Contains(survivors, w => w.Seen.Acquired.Any(acquired => acquired.Shard == shard && acquired.At - diedAt > Failover)));
    }

    [Fact]
    public async Task Only_the_leader_scans_the_table_however_many_workers_there_are()
    {
        foreach (int count in new[] { 2, 8 })
        {
            await using var world = new LeaseWorld([.. Enumerable.Range(0, 16).Select(i => Shard($"shard-{i:D2}"))]);
            var workers = await StartAsync(world, [.. Enumerable.Range(0, count).Select(i => $"w{i}")]);
            for (int step = 0; step < 2; step++)
            {
                world.Time.Advance(RenewInterval / 2);
                await RoundAsync(workers, renew: step % 2 == 1);
            }

            // Every worker scans once at start (to judge expiry at once should it have to lead); from then on only the leader.
            int scansBefore = world.Table.Scans;
            const int rounds = 12;
            for (int step = 0; step < rounds; step++)
            {
                world.Time.Advance(RenewInterval / 2);
                await RoundAsync(workers, renew: step % 2 == 1);
            }

            // One scan per round, by one worker; a worker's own reads (its index query, the lock) do not grow with the fleet.
            Assert.Equal(rounds, world.Table.Scans - scansBefore);
            Assert.InRange(world.Table.ConsistentListings, 0, 1); // the leader's first shard sync
        }
    }

    /// <summary>A worker of the world: id, coordinator and what its source saw.</summary>
    private sealed record Worker(string Id, LeaseCoordinator Coordinator, ClockedLeaseListener Seen);

    private static Task<List<Worker>> StartAsync(LeaseWorld world, params string[] ids) => StartAsync(world, LeaseProtocol.Leader, ids);

    /// <summary>Starts workers one after the other (the initial round of each, without the periodic loop), seeded by their position.</summary>
    private static async Task<List<Worker>> StartAsync(LeaseWorld world, LeaseProtocol protocol, params string[] ids)
    {
        var started = new List<Worker>();
        foreach (string id in ids)
        {
            var (coordinator, seen) = world.Worker(id, seed: 100 + world.WorkerCount, protocol: protocol);
            started.Add(new Worker(id, coordinator, seen));
            await coordinator.InitialRoundAsync(default);
        }

        return started;
    }

    /// <summary>One round of every worker, as the periodic loop runs it: renewals (every second tick), then take rounds.</summary>
    private static async Task RoundAsync(IEnumerable<Worker> workers, bool renew)
    {
        List<Worker> all = [.. workers];
        foreach (Worker worker in all.Where(_ => renew))
        {
            await worker.Coordinator.RenewRoundAsync(default);
        }

        foreach (Worker worker in all)
        {
            await worker.Coordinator.TakeRoundAsync(default);
        }
    }
}
