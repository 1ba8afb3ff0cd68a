using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using StreamLanes.Checkpointing;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.IntegrationTests.Leases;

/// <summary>
/// The key state as an extra attribute of a KCL-shaped lease item: written in the same fenced update as the
/// checkpoint, every KCL attribute left as KCL writes and reads it, and items without it read as before.
/// </summary>
[Collection(EmulatorCollections.DynamoDb)]
public sealed class LeaseKeyStateTests(DynamoDbEmulatorFixture dynamoDb)
{
    private const string Shard = "shardId-000000000007";
    private const string Sequence = "49590338271490256608559692538361571095921575989136588898";

    private async Task<(AmazonDynamoDBClient Client, DynamoDbLeaseTable Table, string Name)> CreateAsync()
    {
        AmazonDynamoDBClient client = dynamoDb.CreateDynamoDbClient();
        string name = EmulatorFixture.UniqueName("keystate");
        var table = new DynamoDbLeaseTable(client, name);
        await table.EnsureExistsAsync(create: true, default);

        // As the Java KCL writes a lease (DynamoDBLeaseSerializer), owned by a KCL worker that is gone.
        await client.PutItemAsync(name, new Dictionary<string, AttributeValue>
        {
            ["leaseKey"] = new() { S = Shard },
            ["leaseOwner"] = new() { S = "kcl-worker-1" },
            ["leaseCounter"] = new() { N = "41" },
            ["ownerSwitchesSinceCheckpoint"] = new() { N = "2" },
            ["checkpoint"] = new() { S = Sequence },
            ["checkpointSubSequenceNumber"] = new() { N = "3" },
            ["parentShardId"] = new() { SS = ["shardId-000000000001"] },
            ["startingHashKey"] = new() { S = "0" },
            ["endingHashKey"] = new() { S = "340282366920938463463374607431768211455" },
        });
        return (client, table, name);
    }

    [Fact]
    public async Task The_state_rides_in_the_checkpoint_write_and_the_KCL_attributes_stay_as_KCL_reads_them()
    {
        (AmazonDynamoDBClient client, DynamoDbLeaseTable table, string name) = await CreateAsync();
        using AmazonDynamoDBClient _ = client;
        Lease old = (await table.GetAsync(Shard, default))!;
        Assert.Null(old.KeyState);

        Lease held = await table.TakeAsync(old, "streamlanes-1", "run-1", default);
        byte[] state = [1, 0, 2, 9, 255];
        held = await table.CheckpointAsync(held, new SequenceNumber("49590338271490256608559692538361571095921575989136588999", 1), null, state, default);

        Dictionary<string, AttributeValue> item = (await client.GetItemAsync(new GetItemRequest { TableName = name, Key = new() { ["leaseKey"] = new() { S = Shard } }, ConsistentRead = true })).Item;
        Assert.Equal("49590338271490256608559692538361571095921575989136588999", item["checkpoint"].S);
        Assert.Equal("1", item["checkpointSubSequenceNumber"].N);
        Assert.Equal("43", item["leaseCounter"].N);
        Assert.Equal("streamlanes-1", item["leaseOwner"].S);
        Assert.Equal("0", item["ownerSwitchesSinceCheckpoint"].N);
        Assert.Equal(["shardId-000000000001"], item["parentShardId"].SS);
        Assert.Equal("0", item["startingHashKey"].S);
        Assert.Equal(state, item["streamLanesKeyState"].B.ToArray());

        // The lease code reads it back as KCL would, plus the state.
        Lease read = (await table.GetAsync(Shard, default))!;
        Assert.Equal(new SequenceNumber("49590338271490256608559692538361571095921575989136588999", 1), read.Position);
        Assert.Equal(state, read.KeyState);
        Assert.Equal(held.Counter, read.Counter);

        // A plain checkpoint leaves the state; an empty one removes the attribute, leaving a pure KCL item.
        held = await ((ILeaseTable)table).CheckpointAsync(held, new SequenceNumber("49590338271490256608559692538361571095921575989137000000"), null, default);
        Assert.Equal(state, (await table.GetAsync(Shard, default))!.KeyState);
        await table.CheckpointAsync(held, new SequenceNumber("49590338271490256608559692538361571095921575989137000001"), null, [], default);
        item = (await client.GetItemAsync(new GetItemRequest { TableName = name, Key = new() { ["leaseKey"] = new() { S = Shard } }, ConsistentRead = true })).Item;
        Assert.False(item.ContainsKey("streamLanesKeyState"));
        Assert.Null((await table.GetAsync(Shard, default))!.KeyState);
    }

    [Fact]
    public async Task The_state_is_fenced_with_the_lease_and_before_the_first_checkpoint_it_is_written_alone()
    {
        (AmazonDynamoDBClient client, DynamoDbLeaseTable table, string name) = await CreateAsync();
        using AmazonDynamoDBClient _ = client;
        await client.UpdateItemAsync(new UpdateItemRequest
        {
            TableName = name,
            Key = new() { ["leaseKey"] = new() { S = Shard } },
            UpdateExpression = "SET checkpoint = :trim",
            ExpressionAttributeValues = new() { [":trim"] = new() { S = "TRIM_HORIZON" } },
        });
        Lease held = await table.TakeAsync((await table.GetAsync(Shard, default))!, "streamlanes-1", "run-1", default);

        held = await table.CheckpointAsync(held, SequenceNumber.None, null, [5, 5], default);
        Lease read = (await table.GetAsync(Shard, default))!;
        Assert.Equal("TRIM_HORIZON", read.Checkpoint);
        Assert.Equal([5, 5], read.KeyState);

        // Another worker takes the lease: the old holder's state write is refused, not applied.
        await table.TakeAsync(read, "streamlanes-2", "run-2", default);
        await Assert.ThrowsAsync<LeaseLostException>(() => table.CheckpointAsync(held, SequenceNumber.None, null, [6], default));
        await Assert.ThrowsAsync<LeaseLostException>(() => table.CheckpointAsync(held, SequenceNumber.FromInteger(9), null, [6], default));
        Assert.Equal([5, 5], (await table.GetAsync(Shard, default))!.KeyState);
    }
}
