using System.Diagnostics;
using StreamLanes.Benchmarks.Harness;
using StreamLanes.Benchmarks.Micro;

namespace StreamLanes.Benchmarks.Profiling;

/// <summary>
/// Runs one success-path benchmark body in a tight loop for a while, to be sampled by an external CPU profiler
/// (BenchmarkDotNet 0.14's EventPipeProfiler does not recognise .NET 10): for example
/// <c>dotnet-trace collect --profile cpu-sampling -- bench/.../StreamLanes.Benchmarks hot-loop --body process</c>.
/// </summary>
internal static class HotLoop
{
    public static int Run(ScenarioArguments args)
    {
        string body = args.String("body", "process");
        var duration = TimeSpan.FromSeconds(args.Double("seconds", 10));
        if (body == "engine")
        {
            return RunEngine(args.Int("keys", 1_000), duration);
        }

        var benchmarks = new RetryPipelineBenchmarks();
        benchmarks.GlobalSetup();
        Func<ValueTask> run = body switch
        {
            "process" => benchmarks.EngineProcessRecord,
            "retry-timeout" => () => Discard(benchmarks.PollyRetryAndEngineTimeout()),
            "retry-polly-timeout" => () => Discard(benchmarks.PollyRetryAndPollyTimeout()),
            "retry" => () => Discard(benchmarks.PollyRetryOnly()),
            _ => throw new ArgumentException($"Unknown body '{body}': process, retry-timeout, retry-polly-timeout or retry."),
        };

        long iterations = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            for (int i = 0; i < 10_000; i++)
            {
                ValueTask task = run();
                if (!task.IsCompletedSuccessfully)
                {
                    task.AsTask().GetAwaiter().GetResult();
                }
            }

            iterations += 10_000;
        }

        Console.WriteLine($"{body}: {iterations:N0} iterations, {clock.Elapsed.TotalNanoseconds / iterations:F1} ns each");
        benchmarks.GlobalCleanup();
        return 0;
    }

    /// <summary>The whole engine (<see cref="EngineThroughputBenchmarks.Engine"/>) at a key count, invocation after invocation.</summary>
    private static int RunEngine(int keys, TimeSpan duration)
    {
        var benchmarks = new EngineThroughputBenchmarks { Keys = keys };
        benchmarks.GlobalSetup();
        long records = 0;
        TimeSpan measured = TimeSpan.Zero;
        TimeSpan cpu = TimeSpan.Zero;
        using var process = Process.GetCurrentProcess();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            benchmarks.BuildRecords();
            process.Refresh();
            TimeSpan cpuBefore = process.TotalProcessorTime;
            long started = Stopwatch.GetTimestamp();
            benchmarks.Engine().GetAwaiter().GetResult();
            measured += Stopwatch.GetElapsedTime(started);
            process.Refresh();
            cpu += process.TotalProcessorTime - cpuBefore;
            records += EngineThroughputBenchmarks.RecordsPerInvocation;
        }

        // On a shared machine the wall clock includes waiting for a core; the CPU time per record is steadier for an A/B.
        Console.WriteLine($"engine, {keys:N0} keys: {records:N0} records, {measured.TotalNanoseconds / records:F1} ns each (set-up excluded), CPU {cpu.TotalNanoseconds / records:F1} ns each");
        benchmarks.GlobalCleanup();
        return 0;
    }

    private static ValueTask Discard<T>(ValueTask<T> task) => task.IsCompletedSuccessfully ? ValueTask.CompletedTask : new ValueTask(task.AsTask());
}
