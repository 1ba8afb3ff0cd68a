using System.Diagnostics;
using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamLanes.Aws;
using StreamLanes.Checkpointing;
using StreamLanes.DynamoDb;
using StreamLanes.Sinks;

namespace StreamLanes.Benchmarks.Kinesis;

/// <summary>
/// Issue 13, side by side in one run on kinesis-mock and DynamoDB Local: one key stuck in <c>RetryUntilSuccess</c>
/// at the start of a shard, the records of other keys after it all handled, then the process "crashes" (its host is
/// disposed: no drain, no final checkpoint, no release) and another worker takes the expired lease. Counted: the
/// records handled again, with the key state off (<c>MaxKeyStateBytes = 0</c>, the plain checkpoint alone) and on
/// (the default). Then the size of the state per lagging lane, and the added latency of the fenced checkpoint write.
/// </summary>
/// <remarks>
/// <c>keystate [--records 10000] [--writes 200] [--kinesis-url ...] [--dynamodb-url ...]</c>; emulators running.
/// </remarks>
internal static class KeyStateRestartComparison
{
    private const string Stuck = "stuck-key";

    public static async Task<int> RunAsync(string[] args)
    {
        int records = KinesisReadComparison.Option(args, "--records", 10_000), writes = KinesisReadComparison.Option(args, "--writes", 200);
        var kinesisUrl = new Uri(KinesisReadComparison.OptionText(args, "--kinesis-url") ?? Environment.GetEnvironmentVariable("STREAMLANES_KINESIS_URL") ?? "http://127.0.0.1:4568");
        var dynamoDbUrl = new Uri(KinesisReadComparison.OptionText(args, "--dynamodb-url") ?? Environment.GetEnvironmentVariable("STREAMLANES_DYNAMODB_URL") ?? "http://127.0.0.1:8000");
        var aws = new AwsClientOptions { Region = "us-east-1", ServiceUrl = kinesisUrl, Credentials = new BasicAWSCredentials("bench", "bench") };
        using var kinesis = new KinesisClient(aws);
        using var dynamoDb = new AmazonDynamoDBClient(new BasicAWSCredentials("bench", "bench"), new AmazonDynamoDBConfig { ServiceURL = dynamoDbUrl.ToString(), AuthenticationRegion = "us-east-1" });

        string stream = $"bench-ks-{Guid.NewGuid():N}"[..24];
        await kinesis.CreateStreamAsync(stream, 1);
        await kinesis.WaitForStreamActiveAsync(stream);
        await kinesis.PutRecordsAsync(stream, [new KinesisPutRecordsEntry { PartitionKey = Stuck, Data = new byte[100] }]);
        await KinesisReadComparison.FillAsync(kinesis, stream, records);
        Console.WriteLine($"stream {stream}: 1 shard, 1 record of '{Stuck}' then {records:N0} records over 1,000 other keys (filled, not timed)");
        SequenceNumber last = await LastPositionAsync(kinesis, stream);

        Console.WriteLine();
        Console.WriteLine("| key state | handled before the crash | handled again after it | of which the stuck key's | state saved |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        foreach (bool on in new[] { false, true })
        {
            (long before, long again, long stuckAgain, int stateBytes) = await CrashAndRestartAsync(aws, dynamoDbUrl, dynamoDb, stream, records, last, on);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {(on ? "on (MaxKeyStateBytes 8192)" : "off (MaxKeyStateBytes 0)")} | {before:N0} | {again:N0} | {stuckAgain} | {stateBytes} B |"));
        }

        await MeasureWriteLatencyAsync(dynamoDb, kinesis, stream, writes);
        await kinesis.DeleteStreamAsync(stream);
        return 0;
    }

    private static async Task<(long Before, long Again, long StuckAgain, int StateBytes)> CrashAndRestartAsync(AwsClientOptions aws, Uri dynamoDbUrl, AmazonDynamoDBClient dynamoDb, string stream, int records, SequenceNumber last, bool keyState)
    {
        string table = $"bench-ks-leases-{Guid.NewGuid():N}";
        var first = new CountingHandler(failing: Stuck);
        IHost crashed = Build(aws, dynamoDbUrl, stream, table, "worker-1", first, keyState);
        await crashed.StartAsync();
        await WaitAsync(() => first.Handled >= records, TimeSpan.FromMinutes(5));

        // A checkpoint written after every other record completed: the most the crash can rely on.
        var leases = new DynamoDbLeaseTable(dynamoDb, table);
        Lease? lease = null;
        long counter = (await leases.ListAsync(default)).Single().Counter;
        await WaitAsync(async () => (lease = (await leases.ListAsync(default)).Single()).Counter >= counter + 3, TimeSpan.FromMinutes(1));
        long before = first.Handled;
        crashed.Dispose();

        var second = new CountingHandler(failing: null);
        using IHost restarted = Build(aws, dynamoDbUrl, stream, table, "worker-2", second, keyState);
        await restarted.StartAsync();
        await WaitAsync(() => second.StuckHandled >= 1, TimeSpan.FromMinutes(2));
        await WaitAsync(async () => (await leases.ListAsync(default)).Single().Position == last, TimeSpan.FromMinutes(2));
        long again = second.Handled;
        await restarted.StopAsync();
        return (before, again, second.StuckHandled, lease!.KeyState?.Length ?? 0);
    }

    private static IHost Build(AwsClientOptions aws, Uri dynamoDbUrl, string stream, string table, string workerId, CountingHandler handler, bool keyState)
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(handler);
        builder.Services.AddStreamConsumer<CountingHandler>("bench", options =>
            {
                options.MaxKeyStateBytes = keyState ? 8192 : 0;
                options.CheckpointInterval = TimeSpan.FromMilliseconds(500);
                options.Retry.InitialDelay = TimeSpan.FromMilliseconds(50);
                options.Retry.MaxDelay = TimeSpan.FromMilliseconds(200);
                options.DrainTimeout = TimeSpan.FromSeconds(1);
            })
            .FromKinesis(stream, kinesis =>
            {
                kinesis.Aws = aws;
                kinesis.DynamoDbServiceUrl = dynamoDbUrl;
                kinesis.Leases.TableName = table;
                kinesis.Leases.WorkerId = workerId;
                kinesis.Leases.FailoverTime = TimeSpan.FromSeconds(3);
                kinesis.MaxRecordsPerRead = 1000;
                kinesis.IdleTimeBetweenReads = TimeSpan.FromMilliseconds(50);
            })
            .WithFailureMode(KeyFailureMode.RetryUntilSuccess)
            .UseDeadLetterSink(new InMemoryDeadLetterSink());
        return builder.Build();
    }

    /// <summary>
    /// The fenced checkpoint write (one conditional UpdateItem) with no key state, and with states of 1, 50 and 400
    /// lagging lanes built from the stream's own sequence numbers, written alternately so that the emulator's drift
    /// hits each alike.
    /// </summary>
    private static async Task MeasureWriteLatencyAsync(AmazonDynamoDBClient dynamoDb, KinesisClient kinesis, string stream, int writes)
    {
        string shard = (await kinesis.ListAllShardsAsync(stream)).Single().ShardId;
        string? iterator = await kinesis.GetShardIteratorAsync(stream, shard, KinesisShardIteratorType.TrimHorizon);
        KinesisGetRecordsResponse page = await kinesis.GetRecordsAsync(iterator!, 1000);
        SequenceNumber[] positions = [.. page.Records.Select(r => new SequenceNumber(r.SequenceNumber))];
        SequenceNumber checkpoint = positions[0];
        byte[] State(int lanes) => lanes == 0 ? [] : ShardKeyStateCodec.Encode(new ShardKeyState
        {
            Checkpoint = checkpoint,
            FurthestRead = positions[^1],
            IncompleteLanes = [.. Enumerable.Range(1, lanes).Select(i => new IncompleteLane(ShardKeyState.HashOf($"key-{i}"), positions[i * (positions.Length - 1) / lanes]))],
        }, 65_536).Bytes;

        int[] laneCounts = [0, 1, 50, 400];
        byte[][] states = [.. laneCounts.Select(State)];
        string table = $"bench-ks-latency-{Guid.NewGuid():N}";
        var leases = new DynamoDbLeaseTable(dynamoDb, table);
        await leases.EnsureExistsAsync(create: true, default);
        await leases.CreateIfAbsentAsync(new Lease { LeaseKey = shard, Checkpoint = Lease.TrimHorizon }, default);
        Lease held = await leases.TakeAsync((await leases.GetAsync(shard, default))!, "bench", "run", default);
        var samples = laneCounts.Select(_ => new List<double>()).ToArray();
        for (int i = -20; i < writes; i++)
        {
            for (int variant = 0; variant < states.Length; variant++)
            {
                long start = Stopwatch.GetTimestamp();
                held = await leases.CheckpointAsync(held, checkpoint, null, states[variant], default);
                if (i >= 0)
                {
                    samples[variant].Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine($"fenced checkpoint write on DynamoDB Local ({writes} writes each, alternating, after 20 unmeasured):");
        Console.WriteLine("| key state | size | bytes per lane | p50 | p99 | added p50 |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        double baseline = Percentile(samples[0], 0.5);
        for (int variant = 0; variant < states.Length; variant++)
        {
            string perLane = laneCounts[variant] == 0 ? "–" : ((double)states[variant].Length / laneCounts[variant]).ToString("F1", CultureInfo.InvariantCulture);
            double p50 = Percentile(samples[variant], 0.5);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {(laneCounts[variant] == 0 ? "none (plain checkpoint)" : $"{laneCounts[variant]} lanes")} | {states[variant].Length} B | {perLane} | {p50:F2} ms | {Percentile(samples[variant], 0.99):F2} ms | {p50 - baseline:+0.00;-0.00} ms |"));
        }

        await dynamoDb.DeleteTableAsync(table);
    }

    private static async Task<SequenceNumber> LastPositionAsync(KinesisClient kinesis, string stream)
    {
        string shard = (await kinesis.ListAllShardsAsync(stream)).Single().ShardId;
        string? iterator = await kinesis.GetShardIteratorAsync(stream, shard, KinesisShardIteratorType.TrimHorizon);
        SequenceNumber last = SequenceNumber.None;
        while (iterator is not null)
        {
            KinesisGetRecordsResponse page = await kinesis.GetRecordsAsync(iterator, 10_000);
            if (page.Records.Count > 0)
            {
                last = new SequenceNumber(page.Records[^1].SequenceNumber);
            }
            else if (page.MillisBehindLatest == 0)
            {
                break;
            }

            iterator = page.NextShardIterator;
        }

        return last;
    }

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];
    }

    private static async Task WaitAsync(Func<bool> condition, TimeSpan timeout) => await WaitAsync(() => Task.FromResult(condition()), timeout);

    private static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException("The benchmark's condition was not reached in time.");
            }

            await Task.Delay(50);
        }
    }

    private sealed class CountingHandler(string? failing) : IStreamHandler<ReadOnlyMemory<byte>>
    {
        private long _handled;
        private long _stuckHandled;

        public long Handled => Interlocked.Read(ref _handled);

        public long StuckHandled => Interlocked.Read(ref _stuckHandled);

        public ValueTask HandleAsync(ReadOnlyMemory<byte> message, HandlerContext context)
        {
            if (context.Record.PartitionKey == failing)
            {
                throw new InvalidOperationException("stuck");
            }

            Interlocked.Increment(ref _handled);
            if (context.Record.PartitionKey == Stuck)
            {
                Interlocked.Increment(ref _stuckHandled);
            }

            return ValueTask.CompletedTask;
        }
    }
}
