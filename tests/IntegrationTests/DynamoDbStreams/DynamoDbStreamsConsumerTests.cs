using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamLanes.Aws;
using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;
using StreamLanes.TestInfrastructure;
using Xunit.Abstractions;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.DynamoDbStreams;

[Collection(EmulatorCollections.DynamoDb)]
public sealed class DynamoDbStreamsConsumerTests(DynamoDbEmulatorFixture dynamoDb, ITestOutputHelper output)
{
    private async Task<string> CreateTableAsync()
    {
        string table = EmulatorFixture.UniqueName("items");
        using AmazonDynamoDBClient client = dynamoDb.CreateDynamoDbClient();
        await client.CreateTableAsync(new CreateTableRequest
        {
            TableName = table,
            KeySchema = [new KeySchemaElement("pk", KeyType.HASH), new KeySchemaElement("sk", KeyType.RANGE)],
            AttributeDefinitions = [new AttributeDefinition("pk", ScalarAttributeType.S), new AttributeDefinition("sk", ScalarAttributeType.N)],
            BillingMode = BillingMode.PAY_PER_REQUEST,
            StreamSpecification = new StreamSpecification { StreamEnabled = true, StreamViewType = StreamViewType.NEW_AND_OLD_IMAGES },
        });
        return table;
    }

    private static Dictionary<string, AttributeValue> Key(int item) => new()
    {
        ["pk"] = new AttributeValue { S = $"item-{item}" },
        ["sk"] = new AttributeValue { N = (item % 3).ToString() },
    };

    /// <summary>Inserts every item, updates a third of them twice, deletes a fifth: the per-item history of changes.</summary>
    private static async Task<int> WriteHistoryAsync(AmazonDynamoDBClient client, string table, int items)
    {
        int changes = 0;
        for (int i = 0; i < items; i++)
        {
            var item = Key(i);
            item["version"] = new AttributeValue { N = "1" };
            item["name"] = new AttributeValue { S = $"name {i}" };
            item["tags"] = new AttributeValue { SS = ["a", "b"] };
            await client.PutItemAsync(table, item);
            changes++;
        }

        for (int round = 2; round <= 3; round++)
        {
            for (int i = 0; i < items; i += 3)
            {
                await client.UpdateItemAsync(new UpdateItemRequest
                {
                    TableName = table,
                    Key = Key(i),
                    UpdateExpression = "SET version = :v",
                    ExpressionAttributeValues = new Dictionary<string, AttributeValue> { [":v"] = new AttributeValue { N = round.ToString() } },
                });
                changes++;
            }
        }

        for (int i = 0; i < items; i += 5)
        {
            await client.DeleteItemAsync(table, Key(i));
            changes++;
        }

        return changes;
    }

    /// <summary>Reads the whole stream directly, as the records the consumer must see (same payload bytes and keys).</summary>
    private async Task<List<StreamRecord>> ReadStreamAsync(string table)
    {
        using AmazonDynamoDBClient client = dynamoDb.CreateDynamoDbClient();
        string arn = (await client.DescribeTableAsync(table)).Table.LatestStreamArn;
        using DynamoDbStreamsClient streams = dynamoDb.CreateStreamsClient();
        var records = new List<StreamRecord>();
        foreach (DynamoDbShard shard in (await streams.DescribeStreamAllShardsAsync(arn)).Shards)
        {
            string? iterator = await streams.GetShardIteratorAsync(arn, shard.ShardId, DynamoDbShardIteratorType.TrimHorizon);
            while (iterator is not null)
            {
                DynamoDbGetRecordsResponse page = await streams.GetRecordsAsync(iterator);
                records.AddRange(page.Records.Select(change => new StreamRecord(
                    SourceKind.DynamoDbStreams, table, shard.ShardId, new SequenceNumber(change.Dynamodb.SequenceNumber),
                    DynamoDbChange.PartitionKeyOf(change.Dynamodb.Keys), DynamoDbStreamsJson.Serialize(change), DateTimeOffset.UnixEpoch)));
                iterator = page.Records.Count == 0 ? null : page.NextShardIterator;
            }
        }

        return records;
    }

    private IHost CreateWorker<THandler>(string table, THandler handler, InMemoryDeadLetterSink deadLetters, string leaseTable, Action<StreamConsumerOptions>? configure = null)
        where THandler : class
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(handler);
        builder.Services
            .AddStreamConsumer<THandler>("items", options =>
            {
                options.CheckpointInterval = TimeSpan.FromMilliseconds(200);
                options.Retry.InitialDelay = TimeSpan.FromMilliseconds(10);
                options.Retry.MaxDelay = TimeSpan.FromMilliseconds(50);
                options.MaxAttempts = 3;
                configure?.Invoke(options);
            })
            .FromDynamoDbStream(table, options =>
            {
                options.Aws = dynamoDb.CreateClientOptions();
                options.DynamoDbServiceUrl = dynamoDb.ServiceUrl;
                options.Leases.TableName = leaseTable;
                options.Leases.FailoverTime = TimeSpan.FromSeconds(3);
                options.Leases.ShardSyncInterval = TimeSpan.FromSeconds(2);
                options.IdleTimeBetweenReads = TimeSpan.FromMilliseconds(100);
                options.MinTimeBetweenReads = TimeSpan.FromMilliseconds(20);
            })
            .UseDeadLetterSink(deadLetters);
        return builder.Build();
    }

    [Fact]
    public async Task Inserts_updates_and_deletes_of_hundreds_of_items_are_handled_in_per_item_order_and_the_poison_items_changes_are_dead_lettered_with_their_images()
    {
        string table = await CreateTableAsync();
        using AmazonDynamoDBClient client = dynamoDb.CreateDynamoDbClient();
        int changes = await WriteHistoryAsync(client, table, items: 300);
        List<StreamRecord> put = await ReadStreamAsync(table);
        Assert.Equal(changes, put.Count);
        output.WriteLine($"{put.Count} changes over {put.Select(r => r.ShardId).Distinct().Count()} shard(s)");

        const string poisonKey = "pk=item-42|sk=0";
        var handler = new RecordingHandler
        {
            Behaviour = static (record, _, _) => record.PartitionKey == poisonKey
                ? ValueTask.FromException(new InvalidOperationException("poison item"))
                : ValueTask.CompletedTask,
        };
        var deadLetters = new InMemoryDeadLetterSink();
        string leaseTable = EmulatorFixture.UniqueName("leases");
        using IHost worker = CreateWorker(table, handler, deadLetters, leaseTable);
        await worker.StartAsync();
        await WaitUntilAsync(
            () => handler.Successes.Count() + deadLetters.Envelopes.Count >= put.Count,
            TimeSpan.FromSeconds(60),
            () => $"{handler.Successes.Count()} handled, {deadLetters.Envelopes.Count} dead-lettered of {put.Count}");
        await worker.StopAsync();

        // Nothing lost, per-item order, no overlap, dead letters byte-identical to the stream's records.
        InvariantChecker.Report report = InvariantChecker.Check(put, handler, deadLetters.Envelopes);
        Assert.Equal(0, report.Duplicates);

        // item-42 (sk 0, a multiple of 3 but not of 5): inserted then updated twice; each change dead-lettered with its images.
        Assert.Equal(3, deadLetters.Envelopes.Count);
        Assert.All(deadLetters.Envelopes, letter => Assert.Equal(poisonKey, letter.PartitionKey));
        DynamoDbChange[] letters = [.. deadLetters.Envelopes.OrderBy(l => SequenceNumber.Parse(l.SequenceNumber)).Select(l => new DynamoDbChange(DynamoDbStreamsJson.Deserialize(l.Payload.Span)))];
        Assert.Equal(["INSERT", "MODIFY", "MODIFY"], letters.Select(c => c.EventName));
        Assert.Null(letters[0].OldImage);
        Assert.Equal("name 42", letters[0].NewImage!["name"].GetProperty("S").GetString());
        Assert.Equal("1", letters[1].OldImage!["version"].GetProperty("N").GetString());
        Assert.Equal("2", letters[1].NewImage!["version"].GetProperty("N").GetString());
        Assert.Equal(DeadLetterReason.RetriesExhausted, deadLetters.Envelopes.First().Reason);
        Assert.Equal(SourceKind.DynamoDbStreams, deadLetters.Envelopes.First().SourceKind);

        // Every shard of the lease table checkpointed at its last record and released.
        using AmazonDynamoDBClient leases = dynamoDb.CreateDynamoDbClient();
        foreach (Lease lease in await new DynamoDbLeaseTable(leases, leaseTable).ListAsync(default))
        {
            Assert.Equal(put.Where(r => r.ShardId == lease.LeaseKey).Max(r => r.Position), lease.Position);
            Assert.Null(lease.Owner);
        }
    }

    public sealed record Item(string Pk, int Sk, int Version, string? Name, string[]? Tags);

    public sealed class TypedHandler : IStreamHandler<DynamoDbChange<Item>>
    {
        public List<DynamoDbChange<Item>> Changes { get; } = [];

        public ValueTask HandleAsync(DynamoDbChange<Item> message, HandlerContext context)
        {
            lock (Changes)
            {
                Changes.Add(message);
            }

            return ValueTask.CompletedTask;
        }
    }

    [Fact]
    public async Task A_handler_of_DynamoDbChange_of_TItem_gets_the_images_as_its_own_type()
    {
        string table = await CreateTableAsync();
        using AmazonDynamoDBClient client = dynamoDb.CreateDynamoDbClient();
        await WriteHistoryAsync(client, table, items: 5);
        var handler = new TypedHandler();
        var deadLetters = new InMemoryDeadLetterSink();
        using IHost worker = CreateWorker(table, handler, deadLetters, EmulatorFixture.UniqueName("leases"));
        await worker.StartAsync();
        await WaitUntilAsync(() => { lock (handler.Changes) { return handler.Changes.Count >= 5 + 4 + 1; } }, TimeSpan.FromSeconds(30));
        await worker.StopAsync();

        Assert.Empty(deadLetters.Envelopes);
        DynamoDbChange<Item> insert = handler.Changes.First(c => c.IsInsert && c.NewItem!.Pk == "item-3");
        Assert.Equal(new[] { "a", "b" }, insert.NewItem!.Tags);
        Assert.Equal(0, insert.NewItem.Sk);
        Assert.Equal("name 3", insert.NewItem.Name);
        Assert.Null(insert.OldItem);
        DynamoDbChange<Item> removal = handler.Changes.Single(c => c.IsRemove);
        Assert.Equal("item-0", removal.OldItem!.Pk);
        Assert.Equal(3, removal.OldItem.Version);
        Assert.Null(removal.NewItem);

        // The consumer got the source's default MaxRecordAge, below the stream's 24-hour retention.
        Assert.Equal(TimeSpan.FromHours(23), worker.Services.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<StreamConsumerOptions>>().Get("items").MaxRecordAge);
    }

    [Fact]
    public async Task A_missing_table_fails_start_up_naming_it()
    {
        using IHost worker = CreateWorker("no-such-table-" + Guid.NewGuid().ToString("N")[..8], new RecordingHandler(), new InMemoryDeadLetterSink(), EmulatorFixture.UniqueName("leases"));
        InvalidOperationException error = await Assert.ThrowsAsync<InvalidOperationException>(() => worker.StartAsync());
        Assert.Contains("no-such-table-", error.Message);
        Assert.Contains("was not found", error.Message);
    }
}
