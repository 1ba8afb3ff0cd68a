using System.Diagnostics;
using System.Globalization;
using Amazon.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamLanes.Aws;
using StreamLanes.Sinks;

namespace StreamLanes.Benchmarks.Kinesis;

/// <summary>
/// Against kinesis-mock, side by side in one run: a bare GetRecords loop that only reads, and StreamLanes (leases in
/// DynamoDB Local, no-op handler) over the same stream. Both read every shard from its start with the same page size
/// and no pacing; the stream is filled once, outside the timed part. Target: StreamLanes reaches at least 90% of the
/// bare loop's records/s.
/// </summary>
/// <remarks>
/// <c>kinesis [--shards 2] [--records 20000] [--rounds 3] [--kinesis-url http://127.0.0.1:4568]
/// [--dynamodb-url http://127.0.0.1:8000] [--page 1000]</c>; start the emulators first (<c>scripts/emulators.sh start</c>).
/// </remarks>
internal static class KinesisReadComparison
{
    public static async Task<int> RunAsync(string[] args)
    {
        int shards = Option(args, "--shards", 2), records = Option(args, "--records", 20_000), rounds = Option(args, "--rounds", 3);

        // Pages well below the stream's size, so that each reader makes many calls and the timing measures a
        // steady read rate, not the latency of one or two large pages.
        int page = Option(args, "--page", 1_000);
        var kinesisUrl = new Uri(OptionText(args, "--kinesis-url") ?? Environment.GetEnvironmentVariable("STREAMLANES_KINESIS_URL") ?? "http://127.0.0.1:4568");
        var dynamoDbUrl = new Uri(OptionText(args, "--dynamodb-url") ?? Environment.GetEnvironmentVariable("STREAMLANES_DYNAMODB_URL") ?? "http://127.0.0.1:8000");
        var aws = new AwsClientOptions { Region = "us-east-1", ServiceUrl = kinesisUrl, Credentials = new BasicAWSCredentials("bench", "bench") };
        using var kinesis = new KinesisClient(aws);

        string stream = $"bench-{Guid.NewGuid():N}"[..24];
        await kinesis.CreateStreamAsync(stream, shards);
        await kinesis.WaitForStreamActiveAsync(stream);
        var fill = Stopwatch.StartNew();
        await FillAsync(kinesis, stream, records);

        Console.WriteLine($"stream {stream}: {shards} shards, {records:N0} records of 100 bytes, filled in {fill.Elapsed.TotalSeconds:F1} s (not timed); {page:N0} records per GetRecords call");
        // One untimed round first: JIT, connection pools and DynamoDB Local's first table.
        await BareLoopAsync(kinesis, stream, records, page);
        await StreamLanesAsync(aws, dynamoDbUrl, stream, records, page);
        var bare = new List<double>();
        var lanes = new List<double>();
        for (int round = 1; round <= rounds; round++)
        {
            double bareRate = await BareLoopAsync(kinesis, stream, records, page);
            double lanesRate = await StreamLanesAsync(aws, dynamoDbUrl, stream, records, page);
            bare.Add(bareRate);
            lanes.Add(lanesRate);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round}: bare GetRecords loop {bareRate:N0} records/s, StreamLanes {lanesRate:N0} records/s ({lanesRate / bareRate:P0})"));
        }

        double bareMedian = Median(bare), lanesMedian = Median(lanes);
        Console.WriteLine();
        Console.WriteLine("| reader | records/s (median of rounds) | ratio |");
        Console.WriteLine("|---|---:|---:|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| bare GetRecords loop | {bareMedian:N0} | 100% |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| StreamLanes, no-op handler | {lanesMedian:N0} | {lanesMedian / bareMedian:P0} |"));
        await kinesis.DeleteStreamAsync(stream);
        return 0;
    }

    /// <summary>Puts <paramref name="records"/> 100-byte records over 1,000 keys, 500 per call, retrying what was throttled.</summary>
    internal static async Task FillAsync(KinesisClient kinesis, string stream, int records)
    {
        var random = new Random(1);
        for (int put = 0; put < records; put += 500)
        {
            var batch = Enumerable.Range(0, Math.Min(500, records - put))
                .Select(_ => new KinesisPutRecordsEntry { PartitionKey = $"key-{random.Next(1000)}", Data = new byte[100] })
                .ToList();
            while (batch.Count > 0)
            {
                KinesisPutRecordsResponse response = await kinesis.PutRecordsAsync(stream, batch);
                batch = [.. batch.Where((_, i) => response.Records[i].SequenceNumber is null)];
            }
        }
    }

    // Both readers are timed from their first record to their last, so start-up (listing shards, creating and taking
    // leases) is left out and only the reading throughput is compared.
    internal static async Task<double> BareLoopAsync(KinesisClient kinesis, string stream, int records, int page)
    {
        Stopwatch? clock = null;
        IReadOnlyList<KinesisShard> shards = await kinesis.ListAllShardsAsync(stream);
        long[] read = new long[shards.Count];
        await Task.WhenAll(shards.Select(async (shard, index) =>
        {
            string? iterator = await kinesis.GetShardIteratorAsync(stream, shard.ShardId, KinesisShardIteratorType.TrimHorizon);
            while (iterator is not null)
            {
                KinesisGetRecordsResponse response = await kinesis.GetRecordsAsync(iterator, page);
                if (response.Records.Count > 0)
                {
                    Interlocked.CompareExchange(ref clock, Stopwatch.StartNew(), null);
                }

                read[index] += response.Records.Count;
                if (response.Records.Count == 0 && response.MillisBehindLatest == 0)
                {
                    break;
                }

                iterator = response.NextShardIterator;
            }
        }));
        if (read.Sum() != records)
        {
            throw new InvalidOperationException($"The bare loop read {read.Sum()} of {records} records.");
        }

        return records / clock!.Elapsed.TotalSeconds;
    }

    internal static async Task<double> StreamLanesAsync(AwsClientOptions aws, Uri dynamoDbUrl, string stream, int records, int page, KinesisReadMode mode = KinesisReadMode.Polling)
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddStreamConsumer<NoOpKinesisHandler>("bench", options => options.MaxConcurrentHandlers = 64)
            .FromKinesis(stream, kinesis =>
            {
                kinesis.Aws = aws;
                kinesis.DynamoDbServiceUrl = dynamoDbUrl;
                kinesis.Leases.TableName = $"bench-leases-{Guid.NewGuid():N}";
                kinesis.MaxRecordsPerRead = page;
                kinesis.MinTimeBetweenReads = TimeSpan.Zero;
                kinesis.IdleTimeBetweenReads = TimeSpan.FromMilliseconds(10);
                kinesis.ReadMode = mode;
            })
            .UseDeadLetterSink(new InMemoryDeadLetterSink());
        using IHost host = builder.Build();
        await host.StartAsync();
        IStreamConsumer consumer = host.Services.GetRequiredKeyedService<IStreamConsumer>("bench");
        while (consumer.GetStatus().Received == 0)
        {
            await Task.Delay(1);
        }

        var clock = Stopwatch.StartNew();
        while (consumer.GetStatus().Handled < records)
        {
            await Task.Delay(5);
        }

        double rate = records / clock.Elapsed.TotalSeconds;
        await host.StopAsync();
        return rate;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    internal static int Option(string[] args, string name, int fallback)
        => OptionText(args, name) is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;

    internal static string? OptionText(string[] args, string name)
    {
        int index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }

    private sealed class NoOpKinesisHandler : IStreamHandler<ReadOnlyMemory<byte>>
    {
        public ValueTask HandleAsync(ReadOnlyMemory<byte> message, HandlerContext context) => ValueTask.CompletedTask;
    }
}
