using Amazon.DynamoDBv2.Model;
using StreamLanes.DynamoDb;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.TestInfrastructure;
using Xunit.Abstractions;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Kinesis;

/// <summary>Multi-stream mode: a starting position per stream, and a stream of a fixed list deleted at run time.</summary>
[Collection(KinesisCollection.Name)]
public sealed class KinesisMultiStreamLifecycleTests(KinesisAndDynamoDbFixture emulators, ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task Each_stream_starts_where_its_own_starting_position_says()
    {
        KinesisTestStream fromStart = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("pos-th"), 1);
        KinesisTestStream fromNow = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("pos-latest"), 1);
        await fromStart.PutAsync(Enumerable.Range(0, 10).Select(i => $"{fromStart.Name}-old-{i}"));
        await fromNow.PutAsync(Enumerable.Range(0, 10).Select(i => $"{fromNow.Name}-old-{i}"));

        string table = EmulatorFixture.UniqueName("leases");
        await using KinesisMultiStreamWorker worker = KinesisMultiStreamWorker.Create(emulators, table, "worker-1",
            streams:
            [
                new KinesisStreamOptions { StreamName = fromStart.Name },
                new KinesisStreamOptions { StreamName = fromNow.Name, StartingPosition = KinesisStartingPosition.Latest },
            ]);
        await worker.StartAsync();

        // LATEST takes effect when the reader first asks for an iterator, which the test cannot see: records are put
        // one at a time until the first is read; every one put after that must be read too.
        await WaitUntilAsync(() => worker.Handler.Successes.Count() >= 10, Patience, () => $"{worker.Handler.Successes.Count()} of 10 handled");
        int n = 0;
        using (var waiting = new CancellationTokenSource(Patience))
        {
            while (!worker.Handler.Successes.Any(c => c.Record.PartitionKey.StartsWith($"{fromNow.Name}-new-", StringComparison.Ordinal)))
            {
                await fromNow.PutAsync([$"{fromNow.Name}-new-{n++}"]);
                await Task.Delay(200, waiting.Token);
            }
        }

        await fromNow.PutAsync(Enumerable.Range(0, 10).Select(i => $"{fromNow.Name}-after-{i}"));
        await WaitUntilAsync(() => worker.Handler.Successes.Count(c => c.Record.PartitionKey.StartsWith($"{fromNow.Name}-after-", StringComparison.Ordinal)) == 10, Patience, () => "the records put after the first read were not all handled");

        Assert.Equal(10, worker.Handler.Successes.Count(c => c.Record.PartitionKey.StartsWith($"{fromStart.Name}-old-", StringComparison.Ordinal)));
        Assert.DoesNotContain(worker.Handler.Calls, c => c.Record.PartitionKey.StartsWith($"{fromNow.Name}-old-", StringComparison.Ordinal));
        output.WriteLine($"the LATEST stream's first read record was the {n}th put after start");
    }

    [Fact]
    public async Task A_stream_of_a_fixed_list_deleted_at_run_time_stops_being_read_its_leases_go_and_the_other_stream_goes_on()
    {
        KinesisTestStream kept = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("kept"), 1);
        KinesisTestStream deleted = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("deleted"), 1);
        string deletedId = await KinesisMultiStreamTests.StreamIdOfAsync(deleted);
        string table = EmulatorFixture.UniqueName("leases");
        await using KinesisMultiStreamWorker worker = KinesisMultiStreamWorker.Create(emulators, table, "worker-1",
            streams: [new KinesisStreamOptions { StreamName = kept.Name }, new KinesisStreamOptions { StreamName = deleted.Name }]);
        await worker.StartAsync();
        await kept.PutAsync(Enumerable.Range(0, 10).Select(i => $"{kept.Name}-a-{i % 3}"));
        await deleted.PutAsync(Enumerable.Range(0, 10).Select(i => $"{deleted.Name}-a-{i % 3}"));
        await WaitUntilAsync(() => worker.Handler.Successes.Count() >= 20, Patience, () => $"{worker.Handler.Successes.Count()} of 20 handled");

        await deleted.Client.DeleteStreamAsync(deleted.Name);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await WaitUntilAsync(() => !worker.Consumer.Inspect().StreamName.Contains(deleted.Name, StringComparison.Ordinal), TimeSpan.FromSeconds(15), () => worker.Consumer.Inspect().StreamName);
        output.WriteLine($"deleted stream dropped {clock.Elapsed.TotalSeconds:F1} s after its deletion");
        await WaitUntilAsync(() => !Scan(table).Any(item => item["leaseKey"].S.StartsWith(deletedId + ":", StringComparison.Ordinal)), TimeSpan.FromSeconds(30), () => "the deleted stream's leases are still there");
        output.WriteLine($"its leases deleted {clock.Elapsed.TotalSeconds:F1} s after its deletion");

        // The other stream is still read, and the consumer is healthy again (the deleted stream's reader faults are gone).
        await kept.PutAsync(Enumerable.Range(0, 10).Select(i => $"{kept.Name}-b-{i % 3}"));
        await WaitUntilAsync(() => worker.Handler.Successes.Count() >= 30, Patience, () => $"{worker.Handler.Successes.Count()} of 30 handled");
        await WaitUntilAsync(() => worker.Consumer.GetStatus().ReaderFaults.Count == 0, Patience, () => string.Join(", ", worker.Consumer.GetStatus().ReaderFaults.Select(f => $"{f.ShardId}: {f.ExceptionType}")));
        Assert.Equal(0, worker.Handler.Overlaps);
    }

    [Fact]
    public async Task Two_workers_share_the_shards_of_two_streams_through_one_table_with_nothing_lost()
    {
        KinesisTestStream first = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("share-a"), 2);
        KinesisTestStream second = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("share-b"), 2);
        string table = EmulatorFixture.UniqueName("leases");
        KinesisStreamOptions[] streams = [new() { StreamName = first.Name }, new() { StreamName = second.Name }];
        await using KinesisMultiStreamWorker one = KinesisMultiStreamWorker.Create(emulators, table, "worker-1", streams: streams);
        await using KinesisMultiStreamWorker two = KinesisMultiStreamWorker.Create(emulators, table, "worker-2", streams: streams);
        await one.StartAsync();
        await two.StartAsync();

        // Four leases, two workers: even within a few lease rounds, and each worker reading its two shards only (a worker
        // whose lease was stolen reads the shard until its next renewal fails: records put before that may be handled
        // twice, at least once).
        await WaitUntilAsync(() =>
        {
            var owners = Scan(table).Where(item => item.ContainsKey("leaseOwner")).GroupBy(item => item["leaseOwner"].S).ToDictionary(g => g.Key, g => g.Count());
            return owners.GetValueOrDefault("worker-1") == 2 && owners.GetValueOrDefault("worker-2") == 2
                && one.Consumer.GetStatus().OpenShards == 2 && two.Consumer.GetStatus().OpenShards == 2;
        }, TimeSpan.FromSeconds(30), () => string.Join(", ", Scan(table).Select(item => $"{item["leaseKey"].S}={item.GetValueOrDefault("leaseOwner")?.S}"))
            + $"; open shards {one.Consumer.GetStatus().OpenShards} / {two.Consumer.GetStatus().OpenShards}");

        await first.PutAsync(Enumerable.Range(0, 60).Select(i => $"{first.Name}-key-{i % 6}"));
        await second.PutAsync(Enumerable.Range(0, 60).Select(i => $"{second.Name}-key-{i % 6}"));
        var handled = new Engine.Tests.Support.RecordingHandler[] { one.Handler, two.Handler };
        await WaitUntilAsync(() => handled.Sum(h => h.Successes.Count()) >= 120, Patience, () => $"{handled.Sum(h => h.Successes.Count())} of 120 handled");

        HashSet<string> ids = [.. handled.SelectMany(h => h.Successes).Select(c => $"{c.Record.StreamName}/{c.Record.ShardId}/{c.Record.SequenceNumber}")];
        Assert.Equal(120, ids.Count);
        Assert.Equal(120, handled.Sum(h => h.Successes.Count()));
        Assert.True(one.Handler.Successes.Any() && two.Handler.Successes.Any(), $"one worker handled everything: {one.Handler.Successes.Count()} / {two.Handler.Successes.Count()}");
        KinesisMultiStreamTests.AssertEachHandledOnceInOrderPerKey([first, second], one.Handler, r => one.Handler.Successes.Any(c => c.Record.StreamName == r.StreamName && c.Record.ShardId == r.ShardId));
        KinesisMultiStreamTests.AssertEachHandledOnceInOrderPerKey([first, second], two.Handler, r => two.Handler.Successes.Any(c => c.Record.StreamName == r.StreamName && c.Record.ShardId == r.ShardId));
    }

    [Fact]
    public async Task Leases_left_by_a_stream_no_longer_read_are_deleted_after_the_delay_even_when_their_owner_is_gone()
    {
        KinesisTestStream read = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("current"), 1);
        string table = EmulatorFixture.UniqueName("leases");
        const string Former = "000000000000:former-stream:1600000000";
        using (Amazon.DynamoDBv2.AmazonDynamoDBClient dynamoDb = emulators.DynamoDb.CreateDynamoDbClient())
        {
            await dynamoDb.CreateTableAsync(new CreateTableRequest
            {
                TableName = table,
                AttributeDefinitions = [new AttributeDefinition("leaseKey", Amazon.DynamoDBv2.ScalarAttributeType.S)],
                KeySchema = [new KeySchemaElement("leaseKey", Amazon.DynamoDBv2.KeyType.HASH)],
                BillingMode = Amazon.DynamoDBv2.BillingMode.PAY_PER_REQUEST,
            });
            foreach ((string shard, string? owner) in new[] { ("shardId-000000000000", (string?)"kcl-worker-gone"), ("shardId-000000000001", null) })
            {
                var item = new Dictionary<string, AttributeValue>
                {
                    ["leaseKey"] = new() { S = $"{Former}:{shard}" },
                    ["leaseCounter"] = new() { N = "5" },
                    ["checkpoint"] = new() { S = "TRIM_HORIZON" },
                    ["checkpointSubSequenceNumber"] = new() { N = "0" },
                    ["ownerSwitchesSinceCheckpoint"] = new() { N = "0" },
                    ["streamName"] = new() { S = Former },
                    ["shardId"] = new() { S = shard },
                };
                if (owner is not null)
                {
                    item["leaseOwner"] = new() { S = owner };
                }

                await dynamoDb.PutItemAsync(new PutItemRequest { TableName = table, Item = item });
            }
        }

        await using KinesisMultiStreamWorker worker = KinesisMultiStreamWorker.Create(emulators, table, "worker-1", streams: [new KinesisStreamOptions { StreamName = read.Name }]);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await worker.StartAsync();
        await read.PutAsync(Enumerable.Range(0, 5).Select(i => $"{read.Name}-k{i}"));
        await WaitUntilAsync(() => worker.Handler.Successes.Count() >= 5, Patience, () => $"{worker.Handler.Successes.Count()} of 5 handled");

        // Never taken (not a stream this consumer reads); deleted after the delay (3 s), the owned one once its owner
        // has also not renewed it for the failover time (3 s).
        Assert.DoesNotContain(Scan(table), item => item["leaseKey"].S.StartsWith(Former, StringComparison.Ordinal) && item.GetValueOrDefault("leaseOwner")?.S == "worker-1");
        await WaitUntilAsync(() => !Scan(table).Any(item => item["leaseKey"].S.StartsWith(Former, StringComparison.Ordinal)), TimeSpan.FromSeconds(30),
            () => string.Join(", ", Scan(table).Select(item => $"{item["leaseKey"].S}={item.GetValueOrDefault("leaseOwner")?.S}")));
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(3), $"deleted before the delay: {clock.Elapsed}");
        output.WriteLine($"leftover leases deleted {clock.Elapsed.TotalSeconds:F1} s after start");
        Assert.Single(Scan(table));
    }

    private List<Dictionary<string, AttributeValue>> Scan(string table)
    {
        using Amazon.DynamoDBv2.AmazonDynamoDBClient client = emulators.DynamoDb.CreateDynamoDbClient();
        // The leader lock and the workers' heartbeats are not leases.
        return [.. client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true }).GetAwaiter().GetResult().Items.Where(LeaseItem.IsLease)];
    }
}
