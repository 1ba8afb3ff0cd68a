using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.TestInfrastructure;
using Xunit.Abstractions;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Kinesis;

/// <summary>
/// A KCL multi-stream application's lease table (items exactly as KCL's DynamoDBMultiStreamLeaseSerializer writes them,
/// owned by a KCL worker that is gone, checkpointed mid-stream) taken over by a StreamLanes multi-stream consumer.
/// </summary>
[Collection(KinesisCollection.Name)]
public sealed class KinesisMultiStreamTakeoverTests(KinesisAndDynamoDbFixture emulators, ITestOutputHelper output)
{
    /// <param name="givenIdentifier">
    /// False: the KCL application built its stream identifiers from the ARN and DescribeStreamSummary, as StreamLanes does.
    /// True: it used another account id and creation epoch, which are given to StreamLanes explicitly.
    /// </param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_kcl_multi_stream_table_is_taken_over_resuming_after_each_checkpoint_and_handling_nothing_before(bool givenIdentifier)
    {
        var streams = new List<KinesisTestStream>();
        for (int i = 0; i < 2; i++)
        {
            KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName($"kcl{i}"), 2);
            // 24 keys over 2 shards: with 6, all keys of a stream landed on one shard about once in 32 streams.
            await stream.PutAsync(Enumerable.Range(0, 60).Select(n => $"{stream.Name}-key-{n % 24}"));
            streams.Add(stream);
        }

        // The KCL application's table: one lease per shard, checkpointed halfway through the shard.
        string table = EmulatorFixture.UniqueName("kcl-leases");
        var checkpoints = new Dictionary<string, StreamRecord>(StringComparer.Ordinal);
        using (AmazonDynamoDBClient dynamoDb = emulators.DynamoDb.CreateDynamoDbClient())
        {
            await dynamoDb.CreateTableAsync(new CreateTableRequest
            {
                TableName = table,
                AttributeDefinitions = [new AttributeDefinition("leaseKey", ScalarAttributeType.S)],
                KeySchema = [new KeySchemaElement("leaseKey", KeyType.HASH)],
                BillingMode = BillingMode.PAY_PER_REQUEST,
            });
            foreach (KinesisTestStream stream in streams)
            {
                string streamId = givenIdentifier ? $"123456789012:{stream.Name}:1600000000" : await KinesisMultiStreamTests.StreamIdOfAsync(stream);
                foreach (KinesisShard shard in await stream.Client.ListAllShardsAsync(stream.Name))
                {
                    List<StreamRecord> records = [.. stream.Put.Where(r => r.ShardId == shard.ShardId).OrderBy(r => r.Position)];
                    Assert.True(records.Count >= 4, $"{stream.Name}/{shard.ShardId} got only {records.Count} records");
                    StreamRecord checkpoint = records[records.Count / 2];
                    checkpoints[$"{stream.Name}/{shard.ShardId}"] = checkpoint;
                    await dynamoDb.PutItemAsync(new PutItemRequest
                    {
                        TableName = table,
                        Item = new Dictionary<string, AttributeValue>
                        {
                            ["leaseKey"] = new() { S = $"{streamId}:{shard.ShardId}" },
                            ["leaseOwner"] = new() { S = "kcl-worker-gone" },
                            ["leaseCounter"] = new() { N = "17" },
                            ["ownerSwitchesSinceCheckpoint"] = new() { N = "0" },
                            ["checkpoint"] = new() { S = checkpoint.SequenceNumber },
                            ["checkpointSubSequenceNumber"] = new() { N = "0" },
                            ["startingHashKey"] = new() { S = shard.HashKeyRange.StartingHashKey },
                            ["endingHashKey"] = new() { S = shard.HashKeyRange.EndingHashKey },
                            ["streamName"] = new() { S = streamId },
                            ["shardId"] = new() { S = shard.ShardId },
                        },
                    });
                }
            }
        }

        bool AfterCheckpoint(StreamRecord record) => record.Position.CompareTo(checkpoints[$"{record.StreamName}/{record.ShardId}"].Position) > 0;
        int expected = streams.SelectMany(s => s.Put).Count(AfterCheckpoint);
        await using KinesisMultiStreamWorker worker = KinesisMultiStreamWorker.Create(emulators, table, "streamlanes-1",
            streams: streams.Select(s => givenIdentifier
                ? new KinesisStreamOptions { StreamName = s.Name, AccountId = "123456789012", CreationEpoch = 1600000000 }
                : new KinesisStreamOptions { StreamName = s.Name }));
        await worker.StartAsync();

        // The KCL worker's leases expire after the failover time (3 s) and are taken over.
        await WaitUntilAsync(() => worker.Handler.Successes.Count() >= expected, TimeSpan.FromSeconds(45), () => $"{worker.Handler.Successes.Count()} of {expected} handled");
        await worker.StopAsync();

        KinesisMultiStreamTests.AssertEachHandledOnceInOrderPerKey(streams, worker.Handler, AfterCheckpoint);
        Assert.DoesNotContain(worker.Handler.Calls, call => !AfterCheckpoint(call.Record));
        output.WriteLine($"{expected} records after the KCL checkpoints handled, none of the {streams.Sum(s => s.Put.Count) - expected} before them");

        // Still KCL's table: the same keys, nothing added under StreamLanes' single-stream keys, checkpoints moved on.
        using AmazonDynamoDBClient client = emulators.DynamoDb.CreateDynamoDbClient();
        List<Dictionary<string, AttributeValue>> items = (await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items;
        Assert.Equal(checkpoints.Count, items.Count);
        foreach (Dictionary<string, AttributeValue> item in items)
        {
            string shardId = item["shardId"].S;
            Assert.Equal($"{item["streamName"].S}:{shardId}", item["leaseKey"].S);
            string stream = item["streamName"].S.Split(':')[1];
            StreamRecord last = streams.Single(s => s.Name == stream).Put.Where(r => r.ShardId == shardId).MaxBy(r => r.Position)!;
            Assert.Equal(last.SequenceNumber, item["checkpoint"].S);
            Assert.False(item.ContainsKey("leaseOwner"), $"{item["leaseKey"].S} still owned by {item.GetValueOrDefault("leaseOwner")?.S}");
            Assert.True(long.Parse(item["leaseCounter"].N, CultureInfo.InvariantCulture) > 17);
        }
    }
}
