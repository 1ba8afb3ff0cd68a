using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace StreamLanes.Benchmarks;

/// <summary>The suite's BenchmarkDotNet configuration.</summary>
internal static class BenchmarkConfig
{
    /// <summary>
    /// The default job takes 15+ iterations per case and several minutes per class on 2 cores. "Quick" keeps one
    /// launch, 3 warm-ups and 10 measured iterations: enough for a median on a noisy machine, and the whole suite
    /// runs in a few minutes. A <c>--job</c> on the command line replaces it.
    /// </summary>
    public static IConfig Create(string[] args)
    {
        ManualConfig config = ManualConfig.Create(DefaultConfig.Instance)
            .AddColumn(StatisticColumn.Median)
            .WithOption(ConfigOptions.DisableLogFile, false);
        if (!args.Any(arg => arg is "--job" or "-j"))
        {
            config.AddJob(Job.Default.WithId("Quick").WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(10));
        }

        return config;
    }
}
