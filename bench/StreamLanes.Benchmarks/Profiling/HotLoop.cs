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

    private static ValueTask Discard<T>(ValueTask<T> task) => task.IsCompletedSuccessfully ? ValueTask.CompletedTask : new ValueTask(task.AsTask());
}
