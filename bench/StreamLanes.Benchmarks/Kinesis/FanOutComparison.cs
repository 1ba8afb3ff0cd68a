using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Amazon.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StreamLanes.Aws;
using StreamLanes.Sinks;

namespace StreamLanes.Benchmarks.Kinesis;

/// <summary>
/// Polling (default options) against enhanced fan-out, side by side on one kinesis-mock stream:
/// put-to-handler latency at a steady put rate with one and with three consumer applications reading the stream
/// (throttled reads counted), and records/s of a full stream against the bare GetRecords loop.
/// </summary>
/// <remarks>
/// <c>efo [--shards 2] [--rate 50] [--seconds 20] [--records 10000] [--kinesis-url …] [--dynamodb-url …]</c>; start the
/// emulators first (<c>scripts/emulators.sh start</c>). Latency is measured in-process: the producer writes its
/// Stopwatch timestamp into each payload and the handler subtracts it.
/// </remarks>
internal static class FanOutComparison
{
    public static async Task<int> RunAsync(string[] args)
    {
        int shards = KinesisReadComparison.Option(args, "--shards", 2), rate = KinesisReadComparison.Option(args, "--rate", 50), seconds = KinesisReadComparison.Option(args, "--seconds", 20), records = KinesisReadComparison.Option(args, "--records", 10_000);
        var kinesisUrl = new Uri(KinesisReadComparison.OptionText(args, "--kinesis-url") ?? Environment.GetEnvironmentVariable("STREAMLANES_KINESIS_URL") ?? "http://127.0.0.1:4568");
        var dynamoDbUrl = new Uri(KinesisReadComparison.OptionText(args, "--dynamodb-url") ?? Environment.GetEnvironmentVariable("STREAMLANES_DYNAMODB_URL") ?? "http://127.0.0.1:8000");
        var aws = new AwsClientOptions { Region = "us-east-1", ServiceUrl = kinesisUrl, Credentials = new BasicAWSCredentials("bench", "bench") };
        using var kinesis = new KinesisClient(aws);
        Console.WriteLine($"load average at start: {(File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a")} ({Environment.ProcessorCount} cores)");
        Console.WriteLine($"latency: {shards} shards, {rate} records/s for {seconds} s per run; throughput: {records:N0} records");
        Console.WriteLine();
        Console.WriteLine("| read mode | applications | p50 ms | p99 ms | max ms | throttled reads |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (int applications in args.Contains("--throughput-only") ? Array.Empty<int>() : [1, 3])
        {
            foreach (KinesisReadMode mode in new[] { KinesisReadMode.Polling, KinesisReadMode.EnhancedFanOut })
            {
                string stream = await CreateStreamAsync(kinesis, shards);
                LatencyResult result = await MeasureLatencyAsync(kinesis, aws, dynamoDbUrl, stream, mode, applications, rate, seconds);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {mode} | {applications} | {result.P50:F0} | {result.P99:F0} | {result.Max:F0} | {result.Throttled} |"));
            }
        }

        string full = await CreateStreamAsync(kinesis, shards);
        await KinesisReadComparison.FillAsync(kinesis, full, records);
        Console.WriteLine();
        Console.WriteLine("| reader | records/s | ratio to the bare loop |");
        Console.WriteLine("|---|---:|---:|");
        double bare = await KinesisReadComparison.BareLoopAsync(kinesis, full, records, 1_000);
        foreach (KinesisReadMode mode in new[] { KinesisReadMode.Polling, KinesisReadMode.EnhancedFanOut })
        {
            double lanes = await KinesisReadComparison.StreamLanesAsync(aws, dynamoDbUrl, full, records, 1_000, mode);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| StreamLanes {mode}, no-op handler | {lanes:N0} | {lanes / bare:P0} |"));
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| bare GetRecords loop (1,000 per call, no pacing) | {bare:N0} | 100% |"));
        return 0;
    }

    private static async Task<string> CreateStreamAsync(KinesisClient kinesis, int shards)
    {
        string stream = $"efo-bench-{Guid.NewGuid():N}"[..28];
        await kinesis.CreateStreamAsync(stream, shards);
        await kinesis.WaitForStreamActiveAsync(stream);
        return stream;
    }

    private static async Task<LatencyResult> MeasureLatencyAsync(
        KinesisClient kinesis, AwsClientOptions aws, Uri dynamoDbUrl, string stream, KinesisReadMode mode, int applications, int rate, int seconds)
    {
        var latencies = new ConcurrentBag<double>();
        var throttled = new ThrottleCounter();
        var hosts = new List<IHost>();
        for (int app = 0; app < applications; app++)
        {
            // Only the first application's latencies are reported; the others only compete for the shards' reads.
            IHost host = BuildHost(aws, dynamoDbUrl, stream, mode, $"app-{app}", app == 0 ? latencies : null, throttled);
            await host.StartAsync();
            hosts.Add(host);
        }

        // Let every application take its leases (and subscribe) before the timed puts begin.
        await Task.Delay(TimeSpan.FromSeconds(3));
        var ticker = new PeriodicTimer(TimeSpan.FromSeconds(1.0 / rate));
        var clock = Stopwatch.StartNew();
        int put = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(seconds) && await ticker.WaitForNextTickAsync())
        {
            byte[] payload = BitConverter.GetBytes(Stopwatch.GetTimestamp());
            await kinesis.PutRecordAsync(stream, $"key-{put++ % 100}", payload);
        }

        var drain = Stopwatch.StartNew();
        while (latencies.Count < put && drain.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(50);
        }

        foreach (IHost host in hosts)
        {
            await host.StopAsync();
            host.Dispose();
        }

        if (latencies.Count < put)
        {
            throw new InvalidOperationException($"{mode}: only {latencies.Count} of {put} records were handled.");
        }

        double[] sorted = [.. latencies.Order()];
        return new LatencyResult(Percentile(sorted, 0.50), Percentile(sorted, 0.99), sorted[^1], throttled.Count);
    }

    private static IHost BuildHost(
        AwsClientOptions aws, Uri dynamoDbUrl, string stream, KinesisReadMode mode, string application, ConcurrentBag<double>? latencies, ThrottleCounter throttled)
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(new LatencyHandler(latencies));
        builder.Services.AddSingleton<ILoggerProvider>(throttled);
        if (Environment.GetEnvironmentVariable("STREAMLANES_BENCH_LOG") is "1")
        {
            builder.Logging.AddSimpleConsole();
        }

        builder.Services.AddStreamConsumer<LatencyHandler>("bench", options => options.MaxConcurrentHandlers = 64)
            .FromKinesis(stream, kinesis =>
            {
                kinesis.Aws = aws;
                kinesis.DynamoDbServiceUrl = dynamoDbUrl;
                kinesis.Leases.TableName = $"efo-bench-{application}-{Guid.NewGuid():N}"[..40];
                kinesis.ReadMode = mode;
                kinesis.FanOut.ConsumerName = application;
            })
            .UseDeadLetterSink(new InMemoryDeadLetterSink());
        return builder.Build();
    }

    private static double Percentile(double[] sorted, double fraction) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(fraction * sorted.Length) - 1)];

    private sealed record LatencyResult(double P50, double P99, double Max, int Throttled);

    private sealed class LatencyHandler(ConcurrentBag<double>? latencies) : IStreamHandler<ReadOnlyMemory<byte>>
    {
        public ValueTask HandleAsync(ReadOnlyMemory<byte> message, HandlerContext context)
        {
            if (latencies is not null && message.Length == sizeof(long))
            {
                latencies.Add(Stopwatch.GetElapsedTime(BitConverter.ToInt64(message.Span)).TotalMilliseconds);
            }

            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Counts the readers' warnings about throttled reads (ProvisionedThroughputExceeded, LimitExceeded).</summary>
    private sealed class ThrottleCounter : ILoggerProvider, ILogger
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // The transport logs its own retries with the error code; the readers log what the transport gave up on.
            string text = formatter(state, exception);
            if (exception is AwsServiceException { Kind: AwsErrorKind.Throttling }
                || text.Contains("ProvisionedThroughputExceeded", StringComparison.Ordinal)
                || text.Contains("LimitExceeded", StringComparison.Ordinal)
                || text.Contains("Throttl", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _count);
            }
        }

        public void Dispose()
        {
        }
    }
}
