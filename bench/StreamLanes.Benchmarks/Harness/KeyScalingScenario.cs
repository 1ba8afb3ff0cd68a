using System.Globalization;
using System.Text;

namespace StreamLanes.Benchmarks.Harness;

/// <summary>
/// Speed-up by key count: a preloaded shard of records spread round-robin over 1, 10, 100 and 10,000 keys, a 1 ms
/// handler, per-key lanes, no poison. One key is what shard-serial processing gives; more keys run concurrently up
/// to MaxConcurrentHandlers, then the two cores.
/// </summary>
internal static class KeyScalingScenario
{
    private const int Repeats = 3;

    public static async Task<int> RunAsync(ScenarioArguments args)
    {
        int[] keyCounts = args.Ints("keys", [1, 10, 100, 10_000]);
        int concurrency = args.Int("max-concurrent", 256);
        double seconds = args.Double("seconds", 3);

        using var timer = new FixedDelayTimer(TimeSpan.FromMilliseconds(1));
        Console.WriteLine($"keys: 1 shard, preloaded, records round-robin over the keys, handler {timer.Delay.TotalMilliseconds:N0} ms, per-key lanes, MaxConcurrentHandlers {concurrency}, median of {Repeats} runs");
        Console.WriteLine(await timer.CalibrateAsync().ConfigureAwait(false));

        var table = new StringBuilder();
        table.AppendLine("| Keys | Records per run | Records/s (median) | Runs | Speed-up vs 1 key | Concurrency bound: min(keys, MaxConcurrentHandlers) | Records/s per concurrent lane | CPU (of 2 cores) | CPU µs per record | Allocated B per record (process) |");
        table.AppendLine("| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        double? single = null;
        foreach (int keys in keyCounts)
        {
            int parallel = Math.Min(keys, concurrency);

            // About `seconds` of work if the lanes ran at the timer's pace; CPU-bound configurations take longer.
            int records = (int)Math.Clamp(parallel / timer.Delay.TotalSeconds / 1.2 * seconds, 3_000, 500_000);
            var rates = new List<double>();
            var cpu = new List<double>();
            var cpuPerRecord = new List<double>();
            var bytesPerRecord = new List<double>();
            for (int repeat = 0; repeat < Repeats; repeat++)
            {
                var settings = new RunSettings(LaneOrdering.PerKey, 1, keys, 0, TimeSpan.Zero, null, concurrency);
                RunResult run = await ScenarioRunner.RunPreloadedAsync(settings, timer, records).ConfigureAwait(false);
                rates.Add(SteadyRate(run.Recorder));
                cpu.Add(run.CpuTime.TotalSeconds / run.Elapsed.TotalSeconds / Environment.ProcessorCount);
                cpuPerRecord.Add(run.CpuTime.TotalMicroseconds / records);
                bytesPerRecord.Add((double)run.AllocatedBytes / records);
            }

            double median = Percentiles.Median(rates);
            single ??= median;
            string runs = string.Join(", ", rates.Select(static rate => rate.ToString("N0", CultureInfo.InvariantCulture)));
            string line = string.Create(CultureInfo.InvariantCulture,
                $"| {keys:N0} | {records:N0} | {median:N0} | {runs} | {median / single.Value:N1}× | {parallel:N0} | {median / parallel:N0} | {Percentiles.Median(cpu):P0} | {Percentiles.Median(cpuPerRecord):F1} | {Percentiles.Median(bytesPerRecord):N0} |");
            Console.WriteLine(line);
            table.AppendLine(line);
        }

        Console.WriteLine();
        Console.WriteLine(table);
        Console.WriteLine("Records/s is steady-state: the middle 80% of completions (10th to 90th percentile completion time), so start-up and the tail are left out.");
        Console.WriteLine("CPU and allocation are the whole process over the whole run (engine, handler and the harness's timer), divided by the records.");
        return 0;
    }

    private static double SteadyRate(RunRecorder recorder)
    {
        long[] done = [.. recorder.DoneTicks.Take(recorder.Count).Order()];
        int low = done.Length / 10, high = done.Length * 9 / 10;
        return (high - low) / (recorder.Seconds(done[high]) - recorder.Seconds(done[low]));
    }
}
