using Amazon.DynamoDBv2;
using Microsoft.Extensions.Logging.Abstractions;
using StreamLanes.Checkpointing;
using StreamLanes.TestInfrastructure;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Leases;

[Collection(EmulatorCollections.DynamoDb)]
public sealed class LeaseTableTests(DynamoDbEmulatorFixture dynamoDb)
{
    private async Task<DynamoDbLeaseTable> CreateTableAsync(IAmazonDynamoDB client)
    {
        var table = new DynamoDbLeaseTable(client, EmulatorFixture.UniqueName("leases"));
        await table.EnsureExistsAsync(create: true, default);
        return table;
    }

    [Fact]
    public async Task A_worker_whose_lease_was_taken_cannot_move_the_checkpoint()
    {
        using AmazonDynamoDBClient client = dynamoDb.CreateDynamoDbClient();
        DynamoDbLeaseTable table = await CreateTableAsync(client);
        Assert.True(await table.CreateIfAbsentAsync(new Lease { LeaseKey = "shard-1", Checkpoint = Lease.TrimHorizon }, default));
        Assert.False(await table.CreateIfAbsentAsync(new Lease { LeaseKey = "shard-1", Checkpoint = Lease.Latest }, default));

        Lease seen = (await table.GetAsync("shard-1", default))!;
        var workerA = new HeldLease(table, await table.TakeAsync(seen, "worker-a", "run-a", default), 0);
        await workerA.SaveAsync(SequenceNumber.FromInteger(100), default);
        await workerA.RenewAsync(0, default);

        // Worker B takes the lease (as after an expiry it observed): A's view is now stale.
        Lease current = (await table.GetAsync("shard-1", default))!;
        Assert.Equal("worker-a", current.Owner);
        Lease taken = await table.TakeAsync(current, "worker-b", "run-b", default);
        Assert.Equal(1, taken.OwnerSwitchesSinceCheckpoint);

        CheckpointFencedException fenced = await Assert.ThrowsAsync<CheckpointFencedException>(async () => await workerA.SaveAsync(SequenceNumber.FromInteger(200), default));
        Assert.Contains("shard-1", fenced.Message);
        Assert.True(workerA.IsLost);
        await Assert.ThrowsAsync<CheckpointFencedException>(async () => await workerA.SaveAsync(SequenceNumber.FromInteger(300), default));

        Lease after = (await table.GetAsync("shard-1", default))!;
        Assert.Equal("worker-b", after.Owner);
        Assert.Equal(SequenceNumber.FromInteger(100), after.Position);

        // The new owner checkpoints normally, which resets the owner-switch count, as KCL does.
        var workerB = new HeldLease(table, taken, 0);
        await workerB.SaveAsync(SequenceNumber.FromInteger(150), default);
        Lease final = (await table.GetAsync("shard-1", default))!;
        Assert.Equal(SequenceNumber.FromInteger(150), final.Position);
        Assert.Equal(0, final.OwnerSwitchesSinceCheckpoint);
    }

    [Fact]
    public async Task Racing_takes_of_one_lease_have_exactly_one_winner()
    {
        using AmazonDynamoDBClient client = dynamoDb.CreateDynamoDbClient();
        DynamoDbLeaseTable table = await CreateTableAsync(client);
        await table.CreateIfAbsentAsync(new Lease { LeaseKey = "shard-1", Checkpoint = Lease.TrimHorizon }, default);
        Lease seen = (await table.GetAsync("shard-1", default))!;
        Task<Lease>[] takes = [.. Enumerable.Range(0, 8).Select(i => table.TakeAsync(seen, $"worker-{i}", "run", default))];
        await Task.WhenAll(takes.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
        _ = Assert.Single(takes, t => t.IsCompletedSuccessfully);
        Assert.All(takes.Where(t => !t.IsCompletedSuccessfully), t => Assert.IsType<LeaseLostException>(t.Exception!.InnerException));
    }

    [Fact]
    public async Task The_lease_item_has_the_kcl_attribute_shape()
    {
        using AmazonDynamoDBClient client = dynamoDb.CreateDynamoDbClient();
        DynamoDbLeaseTable table = await CreateTableAsync(client);
        await table.CreateIfAbsentAsync(new Lease { LeaseKey = "shardId-000000000002", Checkpoint = Lease.TrimHorizon, ParentShardIds = ["shardId-000000000000", "shardId-000000000001"] }, default);
        Lease seen = (await table.GetAsync("shardId-000000000002", default))!;
        var held = new HeldLease(table, await table.TakeAsync(seen, "worker-a", "run-a", default), 0);
        await held.SaveAsync(new SequenceNumber("49590338271490256608559692538361571095921575989136588898", 4), default);

        var item = (await client.GetItemAsync(table.TableName, new() { ["leaseKey"] = new() { S = "shardId-000000000002" } })).Item;
        Assert.Equal("worker-a", item["leaseOwner"].S);
        Assert.Equal("2", item["leaseCounter"].N); // created at 0, taken (+1), checkpointed (+1)
        Assert.Equal("49590338271490256608559692538361571095921575989136588898", item["checkpoint"].S);
        Assert.Equal("4", item["checkpointSubSequenceNumber"].N);
        Assert.Equal("0", item["ownerSwitchesSinceCheckpoint"].N);
        Assert.Equal(["shardId-000000000000", "shardId-000000000001"], item["parentShardIds"].SS.Order());

        await held.ReleaseAsync(default);
        var released = (await client.GetItemAsync(table.TableName, new() { ["leaseKey"] = new() { S = "shardId-000000000002" } })).Item;
        Assert.False(released.ContainsKey("leaseOwner"));
    }

    [Fact]
    public async Task Workers_even_out_leases_and_take_over_the_leases_of_a_worker_that_stopped_renewing()
    {
        using AmazonDynamoDBClient client = dynamoDb.CreateDynamoDbClient();
        string tableName = EmulatorFixture.UniqueName("leases");
        IReadOnlyList<ShardDescriptor> shards = [.. Enumerable.Range(0, 6).Select(i => new ShardDescriptor($"shard-{i}", []))];
        var options = new Func<string, DynamoDbLeaseOptions>(id => new DynamoDbLeaseOptions { TableName = tableName, WorkerId = id, FailoverTime = TimeSpan.FromSeconds(1.5) });
        var listeners = new Dictionary<string, RecordingListener>();
        var coordinators = new Dictionary<string, LeaseCoordinator>();
        foreach (string id in new[] { "a", "b", "c" })
        {
            listeners[id] = new RecordingListener();
            coordinators[id] = new LeaseCoordinator(new DynamoDbLeaseTable(client, tableName), options(id), _ => Task.FromResult(shards), Lease.TrimHorizon, listeners[id], TimeProvider.System, NullLogger.Instance);
        }

        await coordinators["a"].StartAsync(default);
        Assert.Equal(6, coordinators["a"].HeldShardIds.Count); // alone, it takes everything
        await coordinators["b"].StartAsync(default);
        await coordinators["c"].StartAsync(default);

        // Stealing one lease at a time, with the delayed start for stolen leases, the counts even out to 2-2-2.
        // (A worker may briefly still count a lease stolen from it, until its next renewal fails: wait for agreement.)
        await WaitUntilAsync(() => coordinators.Values.All(c => c.HeldShardIds.Count == 2) && coordinators.Values.SelectMany(c => c.HeldShardIds).Distinct().Count() == 6, TimeSpan.FromSeconds(20));

        // "c" stops renewing (a crash): its two leases expire and move to the others within failover + a renew interval or two.
        string[] orphaned = [.. coordinators["c"].HeldShardIds];
        await coordinators["c"].DisposeAsync();
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        await WaitUntilAsync(() => coordinators["a"].HeldShardIds.Concat(coordinators["b"].HeldShardIds).Distinct().Count() == 6, TimeSpan.FromSeconds(20));
        // Expected: failover + a renew interval or two (~2 s); three failover times leave room for a loaded machine.
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1.5 * 3), $"takeover took {stopwatch.Elapsed}");
        Assert.All(orphaned, shard => Assert.Contains(shard, coordinators["a"].HeldShardIds.Concat(coordinators["b"].HeldShardIds)));
        Assert.Equal(3, coordinators["a"].HeldShardIds.Count);
        Assert.Equal(3, coordinators["b"].HeldShardIds.Count);

        // A graceful release hands over at once, without waiting for expiry: once ReleaseAllAsync returns, every lease
        // b held has no owner in the table (or already a), and a takes them at its next take.
        string[] handedOver = [.. coordinators["b"].HeldShardIds];
        await coordinators["b"].ReleaseAllAsync(default);
        foreach (string shard in handedOver)
        {
            var item = (await client.GetItemAsync(tableName, new() { ["leaseKey"] = new() { S = shard } })).Item;
            string? owner = item.TryGetValue("leaseOwner", out var ownerAttribute) ? ownerAttribute.S : null;
            Assert.True(owner is null or "a", $"{shard} still owned by {owner} after release");
        }

        await WaitUntilAsync(() => coordinators["a"].HeldShardIds.Count == 6, TimeSpan.FromSeconds(20));
        await coordinators["a"].ReleaseAllAsync(default);
        foreach (LeaseCoordinator coordinator in coordinators.Values)
        {
            await coordinator.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_child_shard_is_not_taken_before_its_parents_reached_shard_end()
    {
        using AmazonDynamoDBClient client = dynamoDb.CreateDynamoDbClient();
        string tableName = EmulatorFixture.UniqueName("leases");
        IReadOnlyList<ShardDescriptor> shards = [new("parent", []), new("child-1", ["parent"]), new("child-2", ["parent"])];
        var listener = new RecordingListener();
        var coordinator = new LeaseCoordinator(new DynamoDbLeaseTable(client, tableName), new DynamoDbLeaseOptions { TableName = tableName, WorkerId = "a", FailoverTime = TimeSpan.FromSeconds(1.5) },
            _ => Task.FromResult(shards), Lease.Latest, listener, TimeProvider.System, NullLogger.Instance);
        await coordinator.StartAsync(default);
        Assert.Equal(["parent"], coordinator.HeldShardIds);
        await coordinator.TakeRoundAsync(default);
        Assert.Equal(["parent"], coordinator.HeldShardIds);

        HeldLease parent = listener.Acquired.Single();
        await parent.SaveAsync(SequenceNumber.ShardEnd, default);
        await coordinator.FinishShardAsync(parent, childrenKnown: true, default);
        await coordinator.TakeRoundAsync(default);

        // The coordinator's own rounds run beside the explicit one (with the leader protocol an assignment may land in
        // either): both children are held within a few renew intervals (0.5 s here) of the parent's end.
        await WaitUntilAsync(
            () => coordinator.HeldShardIds.Order().SequenceEqual(["child-1", "child-2"]),
            TimeSpan.FromSeconds(5),
            () => $"held: {string.Join(", ", coordinator.HeldShardIds.Order())}");
        Assert.All(listener.Acquired.Skip(1), lease => Assert.Equal(Lease.TrimHorizon, lease.Current.Checkpoint));
        await coordinator.ReleaseAllAsync(default);
        await coordinator.DisposeAsync();
    }

    private sealed class RecordingListener : ILeaseListener
    {
        public System.Collections.Concurrent.ConcurrentQueue<HeldLease> Acquired { get; } = new();

        public System.Collections.Concurrent.ConcurrentQueue<HeldLease> Lost { get; } = new();

        public Task OnLeaseAcquiredAsync(HeldLease lease, CancellationToken cancellationToken)
        {
            Acquired.Enqueue(lease);
            return Task.CompletedTask;
        }

        public Task OnLeaseLostAsync(HeldLease lease)
        {
            Lost.Enqueue(lease);
            return Task.CompletedTask;
        }
    }
}
