using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using StreamLanes.Checkpointing;
using StreamLanes.Checkpointing.Tests.KeyState;
using StreamLanes.Checkpointing.Tests.Stores;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.IntegrationTests.DynamoDb.Checkpoints;

/// <summary>The checkpoint-store contract on DynamoDB Local, each test on a fresh table.</summary>
[Collection(EmulatorCollections.DynamoDb)]
public sealed class DynamoDbCheckpointStoreContractTests(DynamoDbEmulatorFixture dynamoDb) : CheckpointStoreContract, IDisposable
{
    private readonly AmazonDynamoDBClient _client = dynamoDb.CreateDynamoDbClient();
    private readonly string _table = EmulatorFixture.UniqueName("checkpoints");

    protected override ICheckpointStore CreateStore() => new DynamoDbCheckpointStore(_client, _table, createTableIfMissing: true, ownsClient: false, TimeProvider.System);

    protected override ICheckpointStore Reopen() => CreateStore();

    public void Dispose() => _client.Dispose();
}

/// <summary>The key-state contract on DynamoDB Local, and the conditional writes that keep two processes from overwriting each other.</summary>
[Collection(EmulatorCollections.DynamoDb)]
public sealed class DynamoDbKeyStateStoreTests(DynamoDbEmulatorFixture dynamoDb) : KeyStateStoreContract, IDisposable
{
    private static readonly CheckpointKey Key = new("orders", "queue.fifo", "queue");
    private readonly AmazonDynamoDBClient _client = dynamoDb.CreateDynamoDbClient();
    private readonly string _table = EmulatorFixture.UniqueName("checkpoints");

    protected override ICheckpointStore CreateStore() => Store();

    protected override ICheckpointStore Reopen() => Store();

    private DynamoDbCheckpointStore Store() => new(_client, _table, createTableIfMissing: true, ownsClient: false, TimeProvider.System);

    [Fact]
    public async Task A_save_over_state_another_process_wrote_since_this_one_read_it_is_refused_and_the_newer_state_kept()
    {
        IKeyStateCheckpointStore first = Store(), second = Store();
        await first.SaveAsync(Key, SequenceNumber.FromInteger(1), [1], default);
        await second.GetWithKeyStateAsync(Key, default);
        await second.SaveAsync(Key, SequenceNumber.FromInteger(2), [2], default);

        CheckpointFencedException error = await Assert.ThrowsAsync<CheckpointFencedException>(async () => await first.SaveAsync(Key, SequenceNumber.FromInteger(3), [3], default));
        Assert.Contains(_table, error.Message, StringComparison.Ordinal);
        Assert.Equal((SequenceNumber.FromInteger(2), (byte[]?)[2]), await ((IKeyStateCheckpointStore)Store()).GetWithKeyStateAsync(Key, default), ItemComparer.Instance);

        // A store that never read the item may not create it over an existing one either.
        await Assert.ThrowsAsync<CheckpointFencedException>(async () => await ((ICheckpointStore)Store()).SaveAsync(Key, SequenceNumber.FromInteger(4), default));

        // Once it has read the newer state, the first writer goes on from it.
        await first.GetWithKeyStateAsync(Key, default);
        await first.SaveAsync(Key, SequenceNumber.FromInteger(5), [5], default);
        Assert.Equal((SequenceNumber.FromInteger(5), (byte[]?)[5]), await ((IKeyStateCheckpointStore)Store()).GetWithKeyStateAsync(Key, default), ItemComparer.Instance);
    }

    [Fact]
    public async Task The_item_is_keyed_by_consumer_stream_and_shard_and_a_broken_one_names_the_table_and_field()
    {
        await ((ICheckpointStore)Store()).SaveAsync(Key, new SequenceNumber("00000000000000000042", 0), default);
        ScanResponse scan = await _client.ScanAsync(new ScanRequest { TableName = _table, ConsistentRead = true });
        Dictionary<string, AttributeValue> item = Assert.Single(scan.Items);
        Assert.Equal(("orders", "10:queue.fifo:queue", "00000000000000000042", "1"), (item["pk"].S, item["sk"].S, item["sequenceNumber"].S, item["revision"].N));

        item["sequenceNumber"] = new AttributeValue("12x");
        await _client.PutItemAsync(new PutItemRequest { TableName = _table, Item = item });
        InvalidDataException error = await Assert.ThrowsAsync<InvalidDataException>(async () => await Store().GetAsync(Key, default));
        Assert.Contains($"DynamoDB table '{_table}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("sequenceNumber", error.Message, StringComparison.Ordinal);

        // A broken key state (the engine decodes it) is reported by the checkpointer with the same table and item.
        Assert.Equal(
            $"DynamoDB table '{_table}', item pk 'orders', sk '10:queue.fifo:queue', attribute keyState",
            ((IKeyStateCheckpointer)new StoreShardCheckpointer(Store(), Key)).KeyStateLocation);
    }

    public void Dispose() => _client.Dispose();

    private sealed class ItemComparer : IEqualityComparer<(SequenceNumber, byte[]?)>
    {
        public static readonly ItemComparer Instance = new();

        public bool Equals((SequenceNumber, byte[]?) x, (SequenceNumber, byte[]?) y) => x.Item1 == y.Item1 && (x.Item2 ?? []).AsSpan().SequenceEqual(y.Item2 ?? []);

        public int GetHashCode((SequenceNumber, byte[]?) obj) => obj.Item1.GetHashCode();
    }
}
