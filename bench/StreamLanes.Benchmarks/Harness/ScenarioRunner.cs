using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace StreamLanes.Benchmarks.Harness;

/// <summary>One scenario configuration.</summary>
/// <param name="Ordering">The lane key.</param>
/// <param name="Shards">Shards of the in-memory stream.</param>
/// <param name="Keys">Partition keys, chosen uniformly at random per record.</param>
/// <param name="RatePerShard">Records put per second per shard (steady producer); ignored by preloaded runs.</param>
/// <param name="Duration">How long the producer puts records.</param>
/// <param name="PoisonAt">When the poison record is put (of key 7, failing every attempt); null for none.</param>
/// <param name="MaxConcurrentHandlers">The consumer's concurrency cap.</param>
internal sealed record RunSettings(
    LaneOrdering Ordering,
    int Shards,
    int Keys,
    double RatePerShard,
    TimeSpan Duration,
    TimeSpan? PoisonAt,
    int MaxConcurrentHandlers)
{
    public const int PoisonKey = 7;

    /// <summary>5 attempts, exponential back-off without jitter: 0.667 + 1.333 + 2.667 + 5.333 s = 10 s of retries.</summary>
    public static void ConfigureRetries(StreamConsumerOptions options)
    {
        options.MaxAttempts = 5;
        options.RetryBackoff = RetryBackoff.Exponential;
        options.Retry.InitialDelay = TimeSpan.FromMilliseconds(667);
        options.Retry.MaxDelay = TimeSpan.FromSeconds(10);
        options.RetryJitter = false;
    }
}

/// <summary>What one run measured.</summary>
internal sealed class RunResult(RunSettings settings, RunRecorder recorder)
{
    public RunSettings Settings { get; } = settings;

    public RunRecorder Recorder { get; } = recorder;

    public int PeakBuffered { get; set; }

    public long PeakCheckpointLag { get; set; }

    public long FinalCheckpointLag { get; set; }

    public long PeakManagedBytes { get; set; }

    public TimeSpan Elapsed { get; set; }

    public TimeSpan CpuTime { get; set; }

    /// <summary>Bytes allocated by the whole process during the run (engine, handler, harness timer).</summary>
    public long AllocatedBytes { get; set; }
}

/// <summary>Runs a consumer over an in-memory stream with the <see cref="TimedHandler"/>, sampling its status.</summary>
internal static class ScenarioRunner
{
    private const string ConsumerName = "scenario";
    private static readonly TimeSpan CompletionTimeout = TimeSpan.FromMinutes(3);

    /// <summary>A steady producer puts records for <see cref="RunSettings.Duration"/>; then the run waits for every record to complete.</summary>
    public static async Task<RunResult> RunSteadyAsync(RunSettings settings, FixedDelayTimer timer)
    {
        var stream = new InMemoryStream("scenario", settings.Shards);
        var recorder = new RunRecorder((int)(settings.RatePerShard * settings.Shards * settings.Duration.TotalSeconds * 1.1) + 1_000);
        return await RunAsync(settings, timer, stream, recorder, () => Produce(settings, stream, recorder)).ConfigureAwait(false);
    }

    /// <summary>Puts <paramref name="records"/> records (keys round-robin) before starting the consumer, then runs until all are complete.</summary>
    public static async Task<RunResult> RunPreloadedAsync(RunSettings settings, FixedDelayTimer timer, int records)
    {
        var stream = new InMemoryStream("scenario", settings.Shards);
        var recorder = new RunRecorder(records);
        string[] keys = KeyNames(settings.Keys);
        for (int i = 0; i < records; i++)
        {
            int key = i % keys.Length;
            stream.Put(keys[key], TimedHandler.Payload(recorder.Next(key)));
        }

        return await RunAsync(settings, timer, stream, recorder, produce: null).ConfigureAwait(false);
    }

    public static string[] KeyNames(int count) => [.. Enumerable.Range(0, count).Select(static i => $"key-{i:D4}")];

    private static async Task<RunResult> RunAsync(RunSettings settings, FixedDelayTimer timer, InMemoryStream stream, RunRecorder recorder, Action? produce)
    {
        // Each run starts from a clean heap so that its peak memory is its own.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(new TimedHandler(recorder, timer));
        StreamConsumerBuilder consumerBuilder = builder.Services
            .AddStreamConsumer<TimedHandler>(ConsumerName, options =>
            {
                options.MaxConcurrentHandlers = settings.MaxConcurrentHandlers;
                options.CheckpointInterval = TimeSpan.FromSeconds(1);
                RunSettings.ConfigureRetries(options);
            })
            .FromInMemory(stream)
            .UseInMemoryCheckpoints()
            .UseDeadLetterSink(new RecordingDeadLetterSink(recorder));
        if (LaneKeys.For(settings.Ordering, stream.ShardIds) is { } laneKey)
        {
            consumerBuilder.WithLaneKey(laneKey);
        }

        using IHost host = builder.Build();
        IStreamConsumer consumer = host.Services.GetRequiredKeyedService<IStreamConsumer>(ConsumerName);
        var result = new RunResult(settings, recorder);
        TimeSpan cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        recorder.StartTicks = Stopwatch.GetTimestamp();
        await host.StartAsync().ConfigureAwait(false);

        using var stopSampling = new CancellationTokenSource();
        Task sampling = SampleAsync(consumer, result, stopSampling.Token);
        if (produce is not null)
        {
            // A dedicated thread, so that a busy thread pool cannot delay the producer and skew put times.
            var producer = new Thread(() => produce()) { IsBackground = true, Name = "Producer" };
            producer.Start();
            await Task.Run(producer.Join).ConfigureAwait(false);
        }

        var waited = Stopwatch.StartNew();
        while (recorder.Completed < recorder.Count)
        {
            if (waited.Elapsed > CompletionTimeout)
            {
                throw new TimeoutException($"Run {settings} did not complete: {recorder.Completed} of {recorder.Count} records; status {consumer.GetStatus()}.");
            }

            await Task.Delay(5).ConfigureAwait(false);
        }

        result.Elapsed = Stopwatch.GetElapsedTime(recorder.StartTicks);
        result.CpuTime = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        result.AllocatedBytes = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        await stopSampling.CancelAsync().ConfigureAwait(false);
        await sampling.ConfigureAwait(false);
        result.FinalCheckpointLag = consumer.GetStatus().CheckpointLag;
        await host.StopAsync().ConfigureAwait(false);
        return result;
    }

    private static async Task SampleAsync(IStreamConsumer consumer, RunResult result, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            StreamConsumerStatus status = consumer.GetStatus();
            result.PeakBuffered = Math.Max(result.PeakBuffered, status.Buffered);
            result.PeakCheckpointLag = Math.Max(result.PeakCheckpointLag, status.CheckpointLag);
            result.PeakManagedBytes = Math.Max(result.PeakManagedBytes, GC.GetTotalMemory(forceFullCollection: false));
            try
            {
                await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static void Produce(RunSettings settings, InMemoryStream stream, RunRecorder recorder)
    {
        string[] keys = KeyNames(settings.Keys);
        var random = new Random(20_240_601);
        double rate = settings.RatePerShard * settings.Shards;
        bool poisonPut = settings.PoisonAt is null;
        long produced = 0;
        while (true)
        {
            TimeSpan elapsed = Stopwatch.GetElapsedTime(recorder.StartTicks);
            if (elapsed >= settings.Duration)
            {
                return;
            }

            // Catch up to the schedule each millisecond: a steady rate whatever the sleep's jitter.
            long due = (long)(elapsed.TotalSeconds * rate);
            for (; produced < due; produced++)
            {
                int key = random.Next(keys.Length);
                stream.Put(keys[key], TimedHandler.Payload(recorder.Next(key)));
            }

            if (!poisonPut && elapsed >= settings.PoisonAt)
            {
                int id = recorder.Next(RunSettings.PoisonKey);
                recorder.PoisonId = id;
                stream.Put(keys[RunSettings.PoisonKey], TimedHandler.Payload(id));
                poisonPut = true;
            }

            Thread.Sleep(1);
        }
    }
}
