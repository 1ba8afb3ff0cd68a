using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Microsoft.Extensions.Logging.Abstractions;
using StreamLanes.Checkpointing;
using StreamLanes.TestInfrastructure;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Leases;

/// <summary>
/// Lease tables written by the Java KCL (its <c>DynamoDBLeaseSerializer</c>: <c>parentShardId</c> and
/// <c>childShardIds</c> string sets, <c>startingHashKey</c>/<c>endingHashKey</c> strings, <c>pendingCheckpoint</c>,
/// KCL 3.x entities marked by <c>entityType</c>) and by earlier StreamLanes versions (<c>parentShardIds</c>).
/// </summary>
[Collection(EmulatorCollections.DynamoDb)]
public sealed class KclLeaseTableTests(DynamoDbEmulatorFixture dynamoDb)
{
    private const string Parent = "shardId-000000000000";
    private const string Left = "shardId-000000000001";
    private const string Right = "shardId-000000000002";
    private const string Middle = "170141183460469231731687303715884105728";
    private const string Top = "340282366920938463463374607431768211455";
    private static readonly TimeSpan Failover = TimeSpan.FromSeconds(1.5);

    private static Dictionary<string, AttributeValue> KclItem(string key, string? owner, long counter, string checkpoint, string start, string end, string? parent = null, string parentAttribute = "parentShardId")
    {
        var item = new Dictionary<string, AttributeValue>
        {
            ["leaseKey"] = new() { S = key },
            ["leaseCounter"] = new() { N = counter.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            ["ownerSwitchesSinceCheckpoint"] = new() { N = "0" },
            ["checkpoint"] = new() { S = checkpoint },
            ["checkpointSubSequenceNumber"] = new() { N = "0" },
            ["startingHashKey"] = new() { S = start },
            ["endingHashKey"] = new() { S = end },
        };
        if (owner is not null)
        {
            item["leaseOwner"] = new() { S = owner };
        }

        if (parent is not null)
        {
            item[parentAttribute] = new() { SS = [parent] };
        }

        return item;
    }

    private async Task<(AmazonDynamoDBClient Client, string Table)> CreateSplitTableAsync(string parentAttribute)
    {
        AmazonDynamoDBClient client = dynamoDb.CreateDynamoDbClient();
        string table = EmulatorFixture.UniqueName("kcl");
        await new DynamoDbLeaseTable(client, table).EnsureExistsAsync(create: true, default);

        // A KCL worker ("kcl-worker-1", gone) was half-way through the parent when the stream was split; the children
        // wait, unowned, at TRIM_HORIZON. The parent carries a pending (prepared, uncommitted) checkpoint.
        Dictionary<string, AttributeValue> parent = KclItem(Parent, "kcl-worker-1", 41, "49590338271490256608559692538361571095921575989136588898", "0", Top);
        parent["pendingCheckpoint"] = new() { S = "49590338271490256608559692540000000000000000000000000000" };
        parent["pendingCheckpointSubSequenceNumber"] = new() { N = "0" };
        await client.PutItemAsync(table, parent);
        await client.PutItemAsync(table, KclItem(Left, null, 0, "TRIM_HORIZON", "0", "170141183460469231731687303715884105727", Parent, parentAttribute));
        await client.PutItemAsync(table, KclItem(Right, null, 0, "TRIM_HORIZON", Middle, Top, Parent, parentAttribute));

        // KCL 3.x keeps other entities in the same table; they are not leases.
        await client.PutItemAsync(table, new Dictionary<string, AttributeValue> { ["leaseKey"] = new() { S = "leader" }, ["entityType"] = new() { S = "LEADER" }, ["leaseOwner"] = new() { S = "kcl-worker-1" } });
        return (client, table);
    }

    [Theory]
    [InlineData("parentShardId")]
    [InlineData("parentShardIds")]
    public async Task Children_wait_for_a_half_done_parent_and_start_at_its_shard_end(string parentAttribute)
    {
        (AmazonDynamoDBClient client, string table) = await CreateSplitTableAsync(parentAttribute);
        using AmazonDynamoDBClient _ = client;
        IReadOnlyList<ShardDescriptor> shards = [new(Parent, []), new(Left, [Parent]), new(Right, [Parent])];
        var listener = new RecordingLeaseListener();
        await using var coordinator = new LeaseCoordinator(new DynamoDbLeaseTable(client, table), new DynamoDbLeaseOptions { TableName = table, WorkerId = "streamlanes-1", FailoverTime = Failover },
            _ => Task.FromResult(shards), Lease.TrimHorizon, listener, TimeProvider.System, NullLogger.Instance);
        await coordinator.StartAsync(default);

        // The children are never taken while the parent is unfinished, even though nobody holds them.
        Assert.Empty(coordinator.HeldShardIds);
        await WaitUntilAsync(() => coordinator.HeldShardIds.Contains(Parent), Failover * 5, () => string.Join(", ", coordinator.HeldShardIds));
        Assert.Equal([Parent], coordinator.HeldShardIds);
        HeldLease parent = listener.Acquired.Single().Lease;
        Assert.Equal("49590338271490256608559692538361571095921575989136588898", parent.Current.Checkpoint);
        Assert.Equal(1, parent.Current.OwnerSwitchesSinceCheckpoint);

        // The parent's checkpoint clears KCL's pending checkpoint; its SHARD_END names the children.
        await parent.SaveAsync(SequenceNumber.FromInteger(7), default);
        Dictionary<string, AttributeValue> item = (await client.GetItemAsync(table, new() { ["leaseKey"] = new() { S = Parent } })).Item;
        Assert.False(item.ContainsKey("pendingCheckpoint"));
        Assert.Equal(Top, item["endingHashKey"].S);
        Assert.Equal([Parent], coordinator.HeldShardIds);

        parent.SetChildShards([Left, Right]);
        await parent.SaveAsync(SequenceNumber.ShardEnd, default);
        await coordinator.FinishShardAsync(parent, childrenKnown: true, default);
        await WaitUntilAsync(() => coordinator.HeldShardIds.Count == 2, TimeSpan.FromSeconds(5), () => string.Join(", ", coordinator.HeldShardIds));
        Assert.Equal([Left, Right], coordinator.HeldShardIds.Order());

        item = (await client.GetItemAsync(table, new() { ["leaseKey"] = new() { S = Parent } })).Item;
        Assert.Equal("SHARD_END", item["checkpoint"].S);
        Assert.False(item.ContainsKey("leaseOwner"));
        Assert.Equal([Left, Right], item["childShardIds"].SS.Order());
        Dictionary<string, AttributeValue> leader = (await client.GetItemAsync(table, new() { ["leaseKey"] = new() { S = "leader" } })).Item;
        Assert.Equal("kcl-worker-1", leader["leaseOwner"].S);
        await coordinator.ReleaseAllAsync(default);
    }

    [Fact]
    public async Task A_lease_created_by_streamlanes_is_in_kcls_shape()
    {
        using AmazonDynamoDBClient client = dynamoDb.CreateDynamoDbClient();
        string table = EmulatorFixture.UniqueName("leases");
        IReadOnlyList<ShardDescriptor> shards = [new(Parent, [], "0", Top), new(Left, [Parent], "0", "170141183460469231731687303715884105727"), new(Right, [Parent], Middle, Top)];
        await using var coordinator = new LeaseCoordinator(new DynamoDbLeaseTable(client, table), new DynamoDbLeaseOptions { TableName = table, WorkerId = "a" },
            _ => Task.FromResult(shards), Lease.Latest, new RecordingLeaseListener(), TimeProvider.System, NullLogger.Instance);
        await coordinator.StartAsync(default);

        Dictionary<string, AttributeValue> child = (await client.GetItemAsync(table, new() { ["leaseKey"] = new() { S = Right } })).Item;
        Assert.Equal([Parent], child["parentShardId"].SS);
        Assert.Equal([Parent], child["parentShardIds"].SS); // still written for earlier StreamLanes versions
        Assert.Equal(Middle, child["startingHashKey"].S);
        Assert.Equal(Top, child["endingHashKey"].S);
        Assert.Equal("TRIM_HORIZON", child["checkpoint"].S);
        Assert.Equal("0", child["leaseCounter"].N);
        Assert.Equal("0", child["checkpointSubSequenceNumber"].N);
        Assert.Equal("0", child["ownerSwitchesSinceCheckpoint"].N);
        Assert.False(child.ContainsKey("leaseOwner"));

        Dictionary<string, AttributeValue> parent = (await client.GetItemAsync(table, new() { ["leaseKey"] = new() { S = Parent } })).Item;
        Assert.Equal("a", parent["leaseOwner"].S);
        Assert.Equal("LATEST", parent["checkpoint"].S);
        Assert.False(parent.ContainsKey("parentShardId"));
        Assert.Equal("0", parent["startingHashKey"].S);
        await coordinator.ReleaseAllAsync(default);
    }
}
