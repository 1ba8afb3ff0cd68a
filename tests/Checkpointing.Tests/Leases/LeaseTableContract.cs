using StreamLanes.Checkpointing;

namespace StreamLanes.Checkpointing.Tests.Leases;

/// <summary>
/// What every <see cref="ILeaseTable"/> must do (the in-memory table here, the DynamoDB one on DynamoDB Local in the
/// integration tests, which link this file): conditional writes on owner and counter, fencing of a stale view, and the
/// attributes the coordinator relies on.
/// </summary>
public abstract class LeaseTableContract
{
    internal abstract Task<ILeaseTable> CreateTableAsync();

    [Fact]
    public async Task Create_if_absent_creates_once_an_unowned_lease_at_counter_zero()
    {
        ILeaseTable table = await CreateTableAsync();
        Assert.True(await table.CreateIfAbsentAsync(new Lease { LeaseKey = "shard-1", Checkpoint = Lease.TrimHorizon }, default));
        Assert.False(await table.CreateIfAbsentAsync(new Lease { LeaseKey = "shard-1", Checkpoint = Lease.Latest }, default));

        Lease stored = Assert.Single(await table.ListAsync(default));
        Assert.Equal(("shard-1", null, 0L, Lease.TrimHorizon), (stored.LeaseKey, stored.Owner, stored.Counter, stored.Checkpoint));
        Assert.Null(await table.GetAsync("shard-2", default));
    }

    [Fact]
    public async Task Take_renew_checkpoint_and_release_each_bump_the_counter_and_return_what_is_stored()
    {
        ILeaseTable table = await CreateTableAsync();
        await table.CreateIfAbsentAsync(new Lease { LeaseKey = "shard-1", Checkpoint = Lease.TrimHorizon }, default);

        Lease taken = await table.TakeAsync((await table.GetAsync("shard-1", default))!, "worker-a", "run-a", default);
        Assert.Equal(("worker-a", "run-a", 1L, 0L), (taken.Owner, taken.OwnerIncarnation, taken.Counter, taken.OwnerSwitchesSinceCheckpoint));
        Lease renewed = await table.RenewAsync(taken, default);
        Assert.Equal(2, renewed.Counter);
        Lease checkpointed = await table.CheckpointAsync(renewed, new SequenceNumber("4711", 3), null, default);
        Assert.Equal((3L, new SequenceNumber("4711", 3)), (checkpointed.Counter, checkpointed.Position));
        Assert.Equal(Shape(checkpointed), Shape(await Stored(table, "shard-1")));

        Lease released = await table.ReleaseAsync(checkpointed, default);
        Lease stored = await Stored(table, "shard-1");
        Assert.Equal((null, null, 4L), (stored.Owner, stored.OwnerIncarnation, stored.Counter));
        Assert.Equal(released.Counter, stored.Counter);
        Assert.Equal(new SequenceNumber("4711", 3), stored.Position);
    }

    [Fact]
    public async Task A_stale_counter_is_fenced_on_every_write_and_changes_nothing()
    {
        ILeaseTable table = await CreateTableAsync();
        await table.CreateIfAbsentAsync(new Lease { LeaseKey = "shard-1", Checkpoint = Lease.TrimHorizon }, default);
        Lease heldByA = await table.TakeAsync((await table.GetAsync("shard-1", default))!, "worker-a", "run-a", default);
        heldByA = await table.CheckpointAsync(heldByA, SequenceNumber.FromInteger(100), null, default);

        // Worker B takes it from the state it read: A's view is stale from now on.
        Lease takenByB = await table.TakeAsync((await table.GetAsync("shard-1", default))!, "worker-b", "run-b", default);
        Assert.Equal(1, takenByB.OwnerSwitchesSinceCheckpoint);

        await Assert.ThrowsAsync<LeaseLostException>(() => table.RenewAsync(heldByA, default));
        await Assert.ThrowsAsync<LeaseLostException>(() => table.CheckpointAsync(heldByA, SequenceNumber.FromInteger(200), null, default));
        await Assert.ThrowsAsync<LeaseLostException>(() => table.ReleaseAsync(heldByA, default));
        await Assert.ThrowsAsync<LeaseLostException>(() => table.TakeAsync(heldByA, "worker-a", "run-a", default));

        Assert.Equal(Shape(takenByB), Shape(await Stored(table, "shard-1")));
        Assert.Equal(SequenceNumber.FromInteger(100), (await Stored(table, "shard-1")).Position);
    }

    [Fact]
    public async Task Renew_checkpoint_and_release_need_the_same_owner_at_the_same_counter()
    {
        ILeaseTable table = await CreateTableAsync();
        await table.CreateIfAbsentAsync(new Lease { LeaseKey = "shard-1", Checkpoint = Lease.TrimHorizon }, default);
        Lease taken = await table.TakeAsync((await table.GetAsync("shard-1", default))!, "worker-a", "run-a", default);
        Lease impostor = taken with { Owner = "worker-x" };

        await Assert.ThrowsAsync<LeaseLostException>(() => table.RenewAsync(impostor, default));
        await Assert.ThrowsAsync<LeaseLostException>(() => table.CheckpointAsync(impostor, SequenceNumber.FromInteger(1), null, default));
        await Assert.ThrowsAsync<LeaseLostException>(() => table.ReleaseAsync(impostor, default));
        await Assert.ThrowsAsync<LeaseLostException>(() => table.RenewAsync(new Lease { LeaseKey = "missing", Owner = "worker-a", Checkpoint = Lease.TrimHorizon }, default));
        Assert.Equal(Shape(taken), Shape(await Stored(table, "shard-1")));
    }

    [Fact]
    public async Task Racing_takes_of_one_lease_have_exactly_one_winner()
    {
        ILeaseTable table = await CreateTableAsync();
        await table.CreateIfAbsentAsync(new Lease { LeaseKey = "shard-1", Checkpoint = Lease.TrimHorizon }, default);
        Lease seen = (await table.GetAsync("shard-1", default))!;
        Task<Lease>[] takes = [.. Enumerable.Range(0, 8).Select(i => Task.Run(() => table.TakeAsync(seen, $"worker-{i}", "run", default)))];
        await Task.WhenAll(takes.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));

        Task<Lease> winner = Assert.Single(takes, t => t.IsCompletedSuccessfully);
        Assert.All(takes.Where(t => !t.IsCompletedSuccessfully), t => Assert.IsType<LeaseLostException>(t.Exception!.InnerException));
        Assert.Equal((await winner).Owner, (await Stored(table, "shard-1")).Owner);
    }

    [Fact]
    public async Task Parents_hash_range_and_children_written_at_shard_end_round_trip()
    {
        ILeaseTable table = await CreateTableAsync();
        await table.CreateIfAbsentAsync(new Lease { LeaseKey = "parent", Checkpoint = Lease.TrimHorizon, StartingHashKey = "0", EndingHashKey = "340282366920938463463374607431768211455" }, default);
        await table.CreateIfAbsentAsync(new Lease { LeaseKey = "child", Checkpoint = Lease.TrimHorizon, ParentShardIds = ["parent", "other-parent"] }, default);

        Lease child = await Stored(table, "child");
        Assert.Equal(["other-parent", "parent"], child.ParentShardIds.Order(StringComparer.Ordinal));
        Assert.Empty(child.ChildShardIds);
        Lease parent = await Stored(table, "parent");
        Assert.Equal(("0", "340282366920938463463374607431768211455"), (parent.StartingHashKey, parent.EndingHashKey));
        Assert.Empty(parent.ParentShardIds);

        Lease held = await table.TakeAsync(parent, "worker-a", "run-a", default);
        // Children are written only with SHARD_END.
        held = await table.CheckpointAsync(held, SequenceNumber.FromInteger(5), ["child"], default);
        Assert.Empty((await Stored(table, "parent")).ChildShardIds);
        Lease ended = await table.CheckpointAsync(held, SequenceNumber.ShardEnd, ["child", "child-2"], default);

        Lease stored = await Stored(table, "parent");
        Assert.True(stored.IsShardEnd);
        Assert.Equal(["child", "child-2"], stored.ChildShardIds.Order(StringComparer.Ordinal));
        Assert.Equal(["child", "child-2"], ended.ChildShardIds.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_hand_off_request_moves_no_counter_and_the_hand_over_gives_the_lease_to_the_latest_requested_worker()
    {
        ILeaseTable table = await CreateTableAsync();
        await table.CreateIfAbsentAsync(new Lease { LeaseKey = "shard-1", Checkpoint = Lease.TrimHorizon }, default);
        Lease held = await table.TakeAsync((await table.GetAsync("shard-1", default))!, "worker-a", "run-a", default);

        await table.RequestHandoffAsync(held, "worker-b", default);
        Assert.Equal(("worker-a", held.Counter, "worker-b"), ((await Stored(table, "shard-1")).Owner, (await Stored(table, "shard-1")).Counter, (await Stored(table, "shard-1")).HandoffTo));

        // The owner learns of it from its renewal; the leader redirects it before the owner hands over.
        held = await table.RenewAsync(held, default);
        Assert.Equal("worker-b", held.HandoffTo);
        await table.RequestHandoffAsync(held, "worker-c", default);
        Lease handedOver = await table.HandOverAsync(held, "worker-b", default);

        Lease stored = await Stored(table, "shard-1");
        Assert.Equal(("worker-c", Lease.Assigned, held.Counter + 1, 1L, (string?)null), (stored.Owner!, stored.OwnerIncarnation!, stored.Counter, stored.OwnerSwitchesSinceCheckpoint, stored.HandoffTo));
        Assert.Equal(stored.Owner, handedOver.Owner);

        // The former owner is fenced, and a request names the owner it was meant for.
        await Assert.ThrowsAsync<LeaseLostException>(() => table.RenewAsync(held, default));
        await Assert.ThrowsAsync<LeaseLostException>(() => table.RequestHandoffAsync(held, "worker-d", default));
        Lease taken = await table.TakeAsync(stored, "worker-c", "run-c", default);
        Assert.Null(taken.HandoffTo);
    }

    [Fact]
    public async Task Owned_keys_heartbeats_and_the_scan_see_leases_and_workers_apart()
    {
        ILeaseTable table = await CreateTableAsync();
        foreach (string key in new[] { "shard-1", "shard-2", "shard-3" })
        {
            await table.CreateIfAbsentAsync(new Lease { LeaseKey = key, Checkpoint = Lease.TrimHorizon }, default);
        }

        await table.TakeAsync(await Stored(table, "shard-1"), "worker-a", "run-a", default);
        await table.TakeAsync(await Stored(table, "shard-3"), "worker-a", "run-a", default);
        await table.TakeAsync(await Stored(table, "shard-2"), "worker-b", "run-b", default);
        await table.HeartbeatAsync("worker-a", "run-a", default);
        await table.HeartbeatAsync("worker-a", "run-a", default);
        await table.HeartbeatAsync("worker-b", "run-b", default);

        Assert.Equal(["shard-1", "shard-3"], (await table.ListOwnedKeysAsync("worker-a", default)).Order(StringComparer.Ordinal));
        LeaseTableSnapshot snapshot = await table.ScanAsync(default);
        Assert.Equal(["shard-1", "shard-2", "shard-3"], snapshot.Leases.Select(lease => lease.LeaseKey).Order(StringComparer.Ordinal));
        Assert.Equal([("worker-a", 2L), ("worker-b", 1L)], snapshot.Workers.Select(worker => (worker.WorkerId, worker.Counter)).OrderBy(worker => worker.WorkerId, StringComparer.Ordinal));
        Assert.Equal(3, (await table.ListAsync(default)).Count);

        await table.RemoveHeartbeatAsync("worker-a", default);
        Assert.Equal(["worker-b"], (await table.ScanAsync(default)).Workers.Select(worker => worker.WorkerId));
    }

    [Fact]
    public async Task The_leader_lock_is_taken_renewed_and_released_only_from_the_state_last_seen()
    {
        ILeaseTable table = await CreateTableAsync();
        Assert.Null(await table.GetLeaderAsync(default));
        LeaderLock a = await table.AcquireLeaderAsync(null, "worker-a", "run-a", default);
        await Assert.ThrowsAsync<LeaseLostException>(() => table.AcquireLeaderAsync(null, "worker-b", "run-b", default));

        LeaderLock renewed = await table.RenewLeaderAsync(a, default);
        Assert.Equal(a.Counter + 1, renewed.Counter);
        Assert.Equal(renewed, await table.GetLeaderAsync(default));
        await Assert.ThrowsAsync<LeaseLostException>(() => table.RenewLeaderAsync(a, default));

        // b takes over the lock it saw standing still; a can neither renew nor release it any more.
        LeaderLock b = await table.AcquireLeaderAsync(renewed, "worker-b", "run-b", default);
        await Assert.ThrowsAsync<LeaseLostException>(() => table.RenewLeaderAsync(renewed, default));
        await Assert.ThrowsAsync<LeaseLostException>(() => table.ReleaseLeaderAsync(renewed, default));
        await table.ReleaseLeaderAsync(b, default);
        Assert.Null(await table.GetLeaderAsync(default));
        Assert.Empty(await table.ListAsync(default));
    }

    private static async Task<Lease> Stored(ILeaseTable table, string key)
    {
        Lease? lease = await table.GetAsync(key, default);
        Assert.NotNull(lease);
        return lease with { ParentShardIds = [.. lease.ParentShardIds.Order(StringComparer.Ordinal)], ChildShardIds = [.. lease.ChildShardIds.Order(StringComparer.Ordinal)] };
    }

    private static string Shape(Lease lease)
        => $"{lease.LeaseKey}|{lease.Owner}|{lease.OwnerIncarnation}|{lease.Counter}|{lease.Checkpoint}|{lease.CheckpointSubSequence}|{lease.OwnerSwitchesSinceCheckpoint}"
            + $"|{string.Join(',', lease.ParentShardIds.Order(StringComparer.Ordinal))}|{string.Join(',', lease.ChildShardIds.Order(StringComparer.Ordinal))}";
}
