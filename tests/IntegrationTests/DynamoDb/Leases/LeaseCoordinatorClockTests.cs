using StreamLanes.Checkpointing;
using static StreamLanes.IntegrationTests.Leases.LeaseWorld;

namespace StreamLanes.IntegrationTests.Leases;

/// <summary>
/// The lease coordinator's verbs on the in-memory lease table and a driven clock: expiry, taking, stealing to balance,
/// parents before children, fencing and restarts, with rounds run explicitly and seeded randomizers (no real waits).
/// </summary>
public sealed class LeaseCoordinatorClockTests
{
    private static readonly TimeSpan Millisecond = TimeSpan.FromMilliseconds(1);

    [Fact]
    public async Task A_lease_not_renewed_expires_for_other_workers_only_after_the_failover_time_and_its_holder_gives_it_up_before()
    {
        await using var world = new LeaseWorld(Shard("shard-0"));
        var (a, aSeen) = world.Worker("a", seed: 1);
        var (b, bSeen) = world.Worker("b", seed: 2);
        await a.SyncShardsAsync(default);
        await a.TakeRoundAsync(default);
        Assert.Equal(["shard-0"], aSeen.Running);
        await b.TakeRoundAsync(default);

        // From here on a is cut off: it runs no renew round. Its own give-up comes first, after two renew intervals.
        world.Time.Advance(Failover - RenewInterval + Millisecond);
        await a.RenewRoundAsync(default);
        Assert.Equal([("shard-0", world.Time.GetUtcNow())], aSeen.Lost);
        Assert.Empty(aSeen.Running);

        // b judges expiry by its own observation of the counter: not at exactly the failover time, just after.
        world.Time.Advance(RenewInterval - Millisecond);
        await b.TakeRoundAsync(default);
        Assert.Equal(["shard-0"], (await world.OwnersAsync())["a"]);
        Assert.Empty(bSeen.Acquired);

        world.Time.Advance(Millisecond);
        await b.TakeRoundAsync(default);
        Assert.Equal(["shard-0"], (await world.OwnersAsync())["b"]);
        Assert.Equal(["shard-0"], bSeen.Running);
        Assert.True(bSeen.Acquired[0].At > aSeen.Lost[0].At);
    }

    [Fact]
    public async Task A_renewed_lease_never_expires()
    {
        await using var world = new LeaseWorld(Shard("shard-0"));
        var (a, aSeen) = world.Worker("a", seed: 1);
        var (b, bSeen) = world.Worker("b", seed: 2);
        await a.SyncShardsAsync(default);
        await a.TakeRoundAsync(default);
        for (int step = 1; step <= 40; step++)
        {
            world.Time.Advance(RenewInterval / 2);
            if (step % 2 == 0)
            {
                await a.RenewRoundAsync(default);
            }

            await b.TakeRoundAsync(default);
        }

        Assert.Equal(["shard-0"], (await world.OwnersAsync())["a"]);
        Assert.Empty(aSeen.Lost);
        Assert.Empty(bSeen.Acquired);
    }

    [Fact]
    public async Task A_lone_worker_takes_every_unowned_lease_at_once()
    {
        await using var world = new LeaseWorld(Shard("shard-0"), Shard("shard-1"), Shard("shard-2"), Shard("shard-3"));
        var (a, aSeen) = world.Worker("a", seed: 1);
        await a.SyncShardsAsync(default);
        await a.TakeRoundAsync(default);

        Assert.Equal(["shard-0", "shard-1", "shard-2", "shard-3"], aSeen.Running);
        Assert.All(aSeen.Acquired, acquired => Assert.Equal(world.Time.GetUtcNow(), acquired.At));
        Assert.Equal(["shard-0", "shard-1", "shard-2", "shard-3"], (await world.OwnersAsync())["a"]);
    }

    [Fact]
    public async Task Workers_steal_one_lease_at_a_time_until_the_counts_are_even_and_never_process_a_shard_together()
    {
        (List<string> history, Dictionary<string, ClockedLeaseListener> listeners) = await BalanceAsync(seeds: [11, 12, 13]);

        foreach ((string worker, ClockedLeaseListener seen) in listeners)
        {
            Assert.Equal(2, seen.Running.Count);
        }

        // Each shard, when it changed hands, was started by the thief only after the victim had stopped it.
        foreach ((string thief, ClockedLeaseListener thiefSeen) in listeners)
        {
            foreach ((string shard, DateTimeOffset acquiredAt) in thiefSeen.Acquired)
            {
                foreach ((string victim, ClockedLeaseListener victimSeen) in listeners.Where(pair => pair.Key != thief))
                {
                    bool ranThere = victimSeen.Acquired.Any(other => other.Shard == shard && other.At <= acquiredAt);
                    Assert.True(!ranThere || victimSeen.Lost.Any(lost => lost.Shard == shard && lost.At <= acquiredAt), $"{thief} started {shard} at {acquiredAt} while {victim} still ran it");
                }
            }
        }

        Assert.Equal(4, listeners["a"].Lost.Count);
    }

    [Fact]
    public async Task The_same_seeds_give_the_same_rounds()
    {
        (List<string> first, _) = await BalanceAsync(seeds: [5, 6, 7]);
        (List<string> second, _) = await BalanceAsync(seeds: [5, 6, 7]);
        Assert.Equal(first, second);
    }

    [Fact]
    public async Task A_child_shard_is_taken_only_after_all_its_parents_ended_and_its_lease_is_created_after_theirs()
    {
        // p splits into c1 and c2, which merge into m; listed children first, as a listing may return them.
        await using var world = new LeaseWorld(Shard("m", "c1", "c2"), Shard("c1", "p"), Shard("c2", "p"), Shard("p"));
        var (a, aSeen) = world.Worker("a", seed: 1);
        await a.SyncShardsAsync(default);

        List<string> created = [.. world.Table.Created];
        Assert.Equal(4, created.Count);
        Assert.True(created.IndexOf("p") < created.IndexOf("c1") && created.IndexOf("p") < created.IndexOf("c2"), string.Join(", ", created));
        Assert.True(created.IndexOf("c1") < created.IndexOf("m") && created.IndexOf("c2") < created.IndexOf("m"), string.Join(", ", created));

        await a.TakeRoundAsync(default);
        await a.TakeRoundAsync(default);
        Assert.Equal(["p"], aSeen.Running);

        await EndAsync(a, aSeen, "p", ["c1", "c2"]);
        await a.TakeRoundAsync(default);
        Assert.Equal(["c1", "c2"], aSeen.Running);

        // One parent of the merge ended: the merged shard still waits for the other.
        await EndAsync(a, aSeen, "c1", ["m"]);
        await a.TakeRoundAsync(default);
        Assert.Equal(["c2"], aSeen.Running);

        await EndAsync(a, aSeen, "c2", ["m"]);
        await a.TakeRoundAsync(default);
        Assert.Equal(["m"], aSeen.Running);
        List<string> starts = OrderOfStarts(aSeen);
        Assert.Equal(["p", "c1", "c2", "m"], [starts[0], .. starts[1..3].Order(StringComparer.Ordinal), starts[3]]);
        Lease parent = (await world.Table.GetAsync("p", default))!;
        Assert.True(parent.IsShardEnd);
        Assert.Null(parent.Owner);
        Assert.Equal(["c1", "c2"], parent.ChildShardIds.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_worker_whose_lease_was_stolen_has_its_checkpoint_refused_and_loses_the_lease_at_its_next_renewal()
    {
        await using var world = new LeaseWorld(Shard("shard-0"), Shard("shard-1"));
        var (a, aSeen) = world.Worker("a", seed: 1);
        var (b, bSeen) = world.Worker("b", seed: 2);
        await a.SyncShardsAsync(default);
        await a.TakeRoundAsync(default);

        world.Time.Advance(RenewInterval / 2);
        await b.TakeRoundAsync(default);
        string stolen = Assert.Single((await world.OwnersAsync())["b"]);
        string kept = Assert.Single((await world.OwnersAsync())["a"]);
        Assert.Empty(bSeen.Acquired);

        // a has not renewed since: its next checkpoint of the stolen shard is refused and changes nothing.
        await Assert.ThrowsAsync<CheckpointFencedException>(async () => await aSeen.RunningLease(stolen).SaveAsync(SequenceNumber.FromInteger(100), default));
        await aSeen.RunningLease(kept).SaveAsync(SequenceNumber.FromInteger(100), default);
        Assert.Equal(Lease.TrimHorizon, (await world.Table.GetAsync(stolen, default))!.Checkpoint);

        world.Time.Advance(RenewInterval / 2);
        await a.RenewRoundAsync(default);
        Assert.Equal([stolen], aSeen.Lost.Select(lost => lost.Shard));
        Assert.Equal([kept], aSeen.Running);

        // The thief starts one renew interval (and a fifth) after the steal, by when the victim has stopped.
        world.Time.Advance(RenewInterval + (RenewInterval / 5) - (RenewInterval / 2) - Millisecond);
        Assert.Empty(bSeen.Acquired);
        world.Time.Advance(Millisecond);
        await bSeen.WaitUntilAsync(seen => seen.Running.Count == 1);
        Assert.True(bSeen.Acquired[0].At >= aSeen.Lost[0].At);
        await bSeen.RunningLease(stolen).SaveAsync(SequenceNumber.FromInteger(7), default);
        Assert.Equal("7", (await world.Table.GetAsync(stolen, default))!.Checkpoint);
    }

    [Fact]
    public async Task A_restart_with_the_same_worker_id_takes_its_leases_back_at_once_and_starts_them_after_the_failover_time()
    {
        await using var world = new LeaseWorld(Shard("shard-0"), Shard("shard-1"));
        var (before, beforeSeen) = world.Worker("pod-0", seed: 1);
        await before.SyncShardsAsync(default);
        await before.TakeRoundAsync(default);
        Assert.Equal(2, beforeSeen.Running.Count);

        world.Time.Advance(TimeSpan.FromSeconds(1));
        var (after, afterSeen) = world.Worker("pod-0", seed: 2);
        await after.TakeRoundAsync(default);
        DateTimeOffset takenAt = world.Time.GetUtcNow();
        Assert.All(await world.Table.ListAsync(default), lease => Assert.Equal((after.WorkerId, after.Incarnation), (lease.Owner!, lease.OwnerIncarnation!)));
        Assert.Equal(2, after.HeldShardIds.Count);
        Assert.Empty(afterSeen.Acquired);

        // The earlier run, still alive, is fenced at its next renewal.
        world.Time.Advance(RenewInterval - TimeSpan.FromSeconds(1));
        await before.RenewRoundAsync(default);
        Assert.Equal(2, beforeSeen.Lost.Count);
        Assert.Empty(beforeSeen.Running);

        world.Time.Advance(takenAt + Failover + (RenewInterval / 5) - world.Time.GetUtcNow() - Millisecond);
        Assert.Empty(afterSeen.Acquired);
        world.Time.Advance(Millisecond);
        await afterSeen.WaitUntilAsync(seen => seen.Running.Count == 2);
        Assert.All(afterSeen.Acquired, acquired => Assert.Equal(takenAt + Failover + (RenewInterval / 5), acquired.At));
    }

    private static List<string> OrderOfStarts(ClockedLeaseListener seen) => [.. seen.Acquired.Select(acquired => acquired.Shard)];

    private static async Task EndAsync(LeaseCoordinator coordinator, ClockedLeaseListener seen, string shard, string[] children)
    {
        HeldLease lease = seen.RunningLease(shard);
        lease.SetChildShards(children);
        await lease.SaveAsync(SequenceNumber.ShardEnd, default);
        seen.Finish(shard);
        await coordinator.FinishShardAsync(lease, childrenKnown: true, default);
    }

    /// <summary>Six shards, all first taken by a; b and c join and rounds run every half renew interval for a minute.</summary>
    private static async Task<(List<string> History, Dictionary<string, ClockedLeaseListener> Listeners)> BalanceAsync(int[] seeds)
    {
        await using var world = new LeaseWorld([.. Enumerable.Range(0, 6).Select(i => Shard($"shard-{i}"))]);
        var (a, aSeen) = world.Worker("a", seeds[0]);
        await a.SyncShardsAsync(default);
        await a.TakeRoundAsync(default);
        var (b, bSeen) = world.Worker("b", seeds[1]);
        var (c, cSeen) = world.Worker("c", seeds[2]);
        (LeaseCoordinator Coordinator, string Id)[] workers = [(a, "a"), (b, "b"), (c, "c")];
        var history = new List<string>();
        for (int step = 1; step <= 40; step++)
        {
            world.Time.Advance(RenewInterval / 2);
            foreach ((LeaseCoordinator worker, string id) in workers)
            {
                if (step % 2 == 0)
                {
                    await worker.RenewRoundAsync(default);
                }

                int heldBefore = worker.HeldShardIds.Count;
                await worker.TakeRoundAsync(default);
                Assert.True(worker.HeldShardIds.Count - heldBefore <= 1, $"{id} took {worker.HeldShardIds.Count - heldBefore} leases in one round");
            }

            Dictionary<string, List<string>> owners = await world.OwnersAsync();
            history.Add(string.Join("; ", owners.OrderBy(pair => pair.Key, StringComparer.Ordinal).Select(pair => $"{pair.Key}: {string.Join(',', pair.Value)}")));
        }

        Dictionary<string, List<string>> final = await world.OwnersAsync();
        Assert.Equal([2, 2, 2], new[] { "a", "b", "c" }.Select(id => final.GetValueOrDefault(id)?.Count ?? 0));
        var listeners = new Dictionary<string, ClockedLeaseListener> { ["a"] = aSeen, ["b"] = bSeen, ["c"] = cSeen };
        foreach (ClockedLeaseListener seen in listeners.Values)
        {
            await seen.WaitUntilAsync(s => s.Running.Count == 2);
        }

        // Converged well within the minute: the last third of the rounds changed nothing.
        Assert.Single(history.Skip(26).Distinct());
        return (history, listeners);
    }
}
