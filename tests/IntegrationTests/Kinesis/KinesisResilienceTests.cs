using System.Net;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using Amazon.DynamoDBv2;
using StreamLanes.Aws;
using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.TestInfrastructure;
using Xunit.Abstractions;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Kinesis;

[Collection(KinesisCollection.Name)]
public sealed class KinesisResilienceTests(KinesisAndDynamoDbFixture emulators, ITestOutputHelper output)
{
    private async Task<KinesisTestStream> NewStreamAsync(int shards)
        => await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("orders"), shards);

    private async Task<IReadOnlyList<Lease>> LeasesAsync(string table)
    {
        using AmazonDynamoDBClient client = emulators.DynamoDb.CreateDynamoDbClient();
        return await new DynamoDbLeaseTable(client, table).ListAsync(default);
    }

    [Fact]
    public async Task Throttling_and_an_expired_iterator_are_survived_without_loss_or_duplicates()
    {
        KinesisTestStream stream = await NewStreamAsync(1);
        await stream.PutAsync(Enumerable.Range(0, 600).Select(i => $"key-{i % 40}"));

        // GetRecords: calls 2-6 are throttled (beyond the transport's own 3 retries, so the reader must back off),
        // call 9 says the iterator expired (as after a long backpressure pause).
        var faults = new FaultInjectingHandler((operation, call) => operation switch
        {
            "GetRecords" when call is >= 2 and <= 6 => ("ProvisionedThroughputExceededException", HttpStatusCode.BadRequest),
            "GetRecords" when call == 9 => ("ExpiredIteratorException", HttpStatusCode.BadRequest),
            _ => null,
        });
        using var http = new HttpClient(faults);
        await using KinesisWorker worker = KinesisWorker.Create(emulators, stream.Name, EmulatorFixture.UniqueName("leases"), "worker-1", kinesis: options =>
        {
            options.HttpClient = http;
            options.MaxRecordsPerRead = 50;
            options.ReadRetry.InitialDelay = TimeSpan.FromMilliseconds(50);
            options.ReadRetry.MaxDelay = TimeSpan.FromMilliseconds(400);
            options.Aws.MaxTransportRetries = 1;
        });
        await worker.StartAsync();
        await WaitUntilAsync(() => worker.Handler.Successes.Count() >= 600, TimeSpan.FromSeconds(60), () => $"{worker.Handler.Successes.Count()} handled");

        InvariantChecker.Report report = InvariantChecker.Check(stream.Put, worker.Handler, []);
        Assert.Equal(0, report.Duplicates);
        var log = faults.Log.ToList();
        Assert.Equal(6, log.Count(entry => entry.Injected));

        // After the expiry, the reader asked for a new iterator at the last record it had enqueued.
        int expiry = log.FindIndex(entry => entry.Injected && entry.Operation == "GetRecords" && log.Take(log.IndexOf(entry)).Count(e => e.Operation == "GetRecords") == 8);
        (string _, string body, bool _) = log.Skip(expiry).First(entry => entry.Operation == "GetShardIterator");
        Assert.Contains("AT_SEQUENCE_NUMBER", body);
        output.WriteLine($"iterator after expiry: {body}");
    }

    [Fact]
    public async Task Per_key_order_holds_across_a_shard_split_while_records_flow()
    {
        KinesisTestStream stream = await NewStreamAsync(1);
        string table = EmulatorFixture.UniqueName("leases");
        await using KinesisWorker worker = KinesisWorker.Create(emulators, stream.Name, table, "worker-1");
        worker.Handler.Behaviour = static async (_, _, token) => await Task.Delay(1, token);
        await worker.StartAsync();

        string[] keys = [.. Enumerable.Range(0, 60).Select(i => $"key-{i}")];
        await stream.PutAsync(Enumerable.Range(0, 600).Select(i => keys[i % keys.Length]));
        await WaitUntilAsync(() => worker.Handler.Successes.Count() >= 100, TimeSpan.FromSeconds(30));

        // Split the only shard in the middle of its hash range while the worker is reading it.
        string parent = (await stream.Client.ListAllShardsAsync(stream.Name)).Single().ShardId;
        await stream.Client.SplitShardAsync(stream.Name, parent, (BigInteger.Pow(2, 127)).ToString());
        await stream.Client.WaitForStreamActiveAsync(stream.Name);
        await stream.PutAsync(Enumerable.Range(0, 600).Select(i => keys[i % keys.Length]));
        IReadOnlyList<KinesisShard> shards = await stream.Client.ListAllShardsAsync(stream.Name);
        Assert.Equal(3, shards.Count);

        await WaitUntilAsync(() => worker.Handler.Successes.Select(c => InvariantChecker.Id(c.Record)).Distinct().Count() == 1200, TimeSpan.FromSeconds(60),
            () => $"{worker.Handler.Successes.Count()} handled; shards {string.Join(",", worker.Handler.Successes.Select(c => c.Record.ShardId).Distinct())}");
        InvariantChecker.Check(stream.Put, worker.Handler, []);

        // Across shards: every record of a key on the parent finished before any record of that key on a child began.
        foreach (IGrouping<string, HandlerCall> key in worker.Handler.Calls.GroupBy(c => c.Record.PartitionKey))
        {
            long parentDone = key.Where(c => c.Record.ShardId == parent).Max(c => c.EndedTicks);
            long childStart = key.Where(c => c.Record.ShardId != parent).Min(c => c.StartedTicks);
            Assert.True(parentDone <= childStart, $"key {key.Key}: a child record started before the parent's records were done");
        }

        IReadOnlyList<Lease> leases = await LeasesAsync(table);
        Assert.True(leases.Single(l => l.LeaseKey == parent).IsShardEnd);
        Assert.All(leases.Where(l => l.LeaseKey != parent), child => Assert.Equal([parent], child.ParentShardIds));
    }

    [Fact]
    public async Task Kpl_aggregated_records_are_split_into_user_records_with_their_own_keys_and_sub_sequence_numbers()
    {
        KinesisTestStream stream = await NewStreamAsync(1);
        string table = EmulatorFixture.UniqueName("leases");
        (string Key, string Body)[] users = [("alice", "a1"), ("bob", "b1"), ("alice", "a2"), ("carol", "c1"), ("bob", "b2")];
        KinesisPutRecordResponse put = await stream.Client.PutRecordAsync(stream.Name, "aggregate-key", Aggregate(users));
        await stream.PutAsync(["plain"]);

        await using KinesisWorker worker = KinesisWorker.Create(emulators, stream.Name, table, "worker-1");
        await worker.StartAsync();
        await WaitUntilAsync(() => worker.Handler.Successes.Count() == 6, TimeSpan.FromSeconds(30));
        await worker.StopAsync();

        var calls = worker.Handler.Successes.Where(c => c.Record.SequenceNumber == put.SequenceNumber).OrderBy(c => c.Record.SubSequenceNumber).ToList();
        Assert.Equal(users.Select(u => u.Key), calls.Select(c => c.Record.PartitionKey));
        Assert.Equal(users.Select(u => u.Body), calls.Select(c => Encoding.UTF8.GetString(c.Record.Data.Span)));
        Assert.Equal([0L, 1, 2, 3, 4], calls.Select(c => c.Record.SubSequenceNumber));
        Assert.Equal(stream.Put.Single().Position, (await LeasesAsync(table)).Single().Position);
    }

    /// <summary>Builds a record in the KPL's aggregated format (magic, protobuf AggregatedRecord, MD5).</summary>
    private static byte[] Aggregate((string Key, string Body)[] users)
    {
        string[] keyTable = [.. users.Select(u => u.Key).Distinct()];
        var message = new List<byte>();
        foreach (string key in keyTable)
        {
            WriteBytes(message, 1, Encoding.UTF8.GetBytes(key));
        }

        foreach ((string key, string body) in users)
        {
            var record = new List<byte>();
            record.Add(1 << 3);
            WriteVarint(record, (ulong)Array.IndexOf(keyTable, key));
            WriteBytes(record, 3, Encoding.UTF8.GetBytes(body));
            WriteBytes(message, 3, [.. record]);
        }

        byte[] protobuf = [.. message];
#pragma warning disable CA5351 // the KPL format's checksum
        return [0xF3, 0x89, 0x9A, 0xC2, .. protobuf, .. MD5.HashData(protobuf)];
#pragma warning restore CA5351
    }

    private static void WriteBytes(List<byte> target, int field, byte[] bytes)
    {
        target.Add((byte)((field << 3) | 2));
        WriteVarint(target, (ulong)bytes.Length);
        target.AddRange(bytes);
    }

    private static void WriteVarint(List<byte> target, ulong value)
    {
        while (value >= 0x80)
        {
            target.Add((byte)(value | 0x80));
            value >>= 7;
        }

        target.Add((byte)value);
    }
}
