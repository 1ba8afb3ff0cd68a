using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace StreamLanes.Benchmarks.Harness;

/// <summary>
/// Head-of-line blocking: the same steady workload (1,000 keys, 1 ms handler) through shard-serial, hashed and
/// per-key lanes, once without and once with a poison record that fails all 5 attempts (10 s of back-off) before it
/// is dead-lettered. Reports what the healthy keys keep while the poison record retries, and draws it.
/// </summary>
internal static class HeadOfLineScenario
{
    private const double BucketSeconds = 0.25;

    private static readonly (LaneOrdering Ordering, string Color)[] Orderings =
    [
        (LaneOrdering.ShardSerial, "#d62728"),
        (LaneOrdering.Hashed10, "#ff7f0e"),
        (LaneOrdering.PerKey, "#2ca02c"),
    ];

    public static async Task<int> RunAsync(ScenarioArguments args)
    {
        int[] shardCounts = args.Ints("shards", [1, 4]);
        double ratePerShard = args.Double("rate", 500);
        int keys = args.Int("keys", 1_000);
        var duration = TimeSpan.FromSeconds(args.Double("duration", 20));
        var poisonAt = TimeSpan.FromSeconds(args.Double("poison-at", 3));
        int concurrency = args.Int("max-concurrent", 256);
        int repeats = args.Int("repeats", 1);
        string svgPath = args.String("svg", RepositoryPath("docs", "head-of-line.svg"));

        using var timer = new FixedDelayTimer(TimeSpan.FromMilliseconds(1));
        Console.WriteLine($"hol: {keys:N0} keys uniformly at random, {ratePerShard:N0} records/s per shard for {duration.TotalSeconds:N0} s, "
            + $"handler {timer.Delay.TotalMilliseconds:N0} ms, MaxConcurrentHandlers {concurrency}, poison record (key-{RunSettings.PoisonKey:D4}) put at {poisonAt.TotalSeconds:N0} s, "
            + $"5 attempts with exponential back-off 0.667/1.333/2.667/5.333 s (no jitter), checkpoint every 1 s; {repeats} run(s) per configuration, medians reported.");
        Console.WriteLine(await timer.CalibrateAsync().ConfigureAwait(false));

        var rows = new List<Row>();
        var panels = new List<SvgChart.Panel>();
        foreach (int shards in shardCounts)
        {
            Console.WriteLine($"{shards} shard(s): {DescribeHashedLane(shards, keys)}");
            var series = new List<SvgChart.Series>();
            (double From, double To)? window = null;
            foreach ((LaneOrdering ordering, string color) in Orderings)
            {
                var settings = new RunSettings(ordering, shards, keys, ratePerShard, duration, poisonAt, concurrency);
                var repeated = new List<(Row Row, RunResult Poisoned)>();
                for (int repeat = 0; repeat < repeats; repeat++)
                {
                    // The pair runs back to back so that both see the same machine; noise between pairs is what the median absorbs.
                    RunResult baseline = await ScenarioRunner.RunSteadyAsync(settings with { PoisonAt = null }, timer).ConfigureAwait(false);
                    RunResult poisoned = await ScenarioRunner.RunSteadyAsync(settings, timer).ConfigureAwait(false);
                    Row single = Analyze(baseline, poisoned);
                    repeated.Add((single, poisoned));
                    Console.WriteLine($"  {LaneKeys.Label(ordering)} #{repeat + 1}: kept {single.Kept:P1} of healthy throughput, p99 {single.P99Baseline:F1} -> {single.P99Poisoned:F1} ms, dead letter after {single.TimeToDeadLetter:F2} s");
                }

                Row row = Median(repeated.Select(static pair => pair.Row).ToList());
                rows.Add(row);

                // Chart the run whose kept fraction is the median one.
                RunResult charted = repeated.OrderBy(static pair => pair.Row.Kept).ElementAt(repeated.Count / 2).Poisoned;
                series.Add(new SvgChart.Series(LaneKeys.Label(ordering), color, HealthyThroughputSeries(charted)));
                window ??= (row.WindowFrom, row.WindowTo);
            }

            panels.Add(new SvgChart.Panel(
                $"{shards} shard{(shards > 1 ? "s" : "")}, {keys:N0} keys, {ratePerShard * shards:N0} records/s put, 1 ms handler",
                series,
                window,
                "poison record retrying (5 attempts, 10 s back-off)"));
        }

        Directory.CreateDirectory(Path.GetDirectoryName(svgPath)!);
        await File.WriteAllTextAsync(svgPath, SvgChart.Render(
            "Healthy-key throughput while one poison record retries",
            "seconds since start",
            "healthy records handled / s (250 ms buckets)",
            panels)).ConfigureAwait(false);
        Console.WriteLine($"Chart written to {svgPath}");
        Console.WriteLine();
        Console.WriteLine(Table(rows));
        Console.WriteLine(Targets(rows));
        return 0;
    }

    private sealed record Row(
        int Shards,
        LaneOrdering Ordering,
        double WindowFrom,
        double WindowTo,
        double RateBaseline,
        double RatePoisoned,
        double P50Baseline,
        double P50Poisoned,
        double P99Baseline,
        double P99Poisoned,
        double P99WholeRunPoisoned,
        double TimeToDeadLetter,
        int PeakBuffered,
        double PeakManagedMb,
        long PeakCheckpointLag,
        long PeakCheckpointLagBaseline)
    {
        /// <summary>The median of the runs' kept fractions once aggregated; null for a single run.</summary>
        public double? KeptMedian { get; init; }

        public int Repeats { get; init; } = 1;

        public double Kept => KeptMedian ?? RatePoisoned / RateBaseline;
    }

    private static Row Analyze(RunResult baseline, RunResult poisoned)
    {
        RunRecorder p = poisoned.Recorder;
        double from = p.Seconds(p.PoisonFirstAttemptTicks);
        double to = p.Seconds(p.PoisonDeadLetteredTicks);
        List<double> latencyBaseline = Latencies(baseline.Recorder, from, to);
        List<double> latencyPoisoned = Latencies(p, from, to);
        return new Row(
            poisoned.Settings.Shards,
            poisoned.Settings.Ordering,
            from,
            to,
            HealthyRate(baseline.Recorder, from, to),
            HealthyRate(p, from, to),
            Percentiles.Of(latencyBaseline, 0.50),
            Percentiles.Of(latencyPoisoned, 0.50),
            Percentiles.Of(latencyBaseline, 0.99),
            Percentiles.Of(latencyPoisoned, 0.99),
            Percentiles.Of(Latencies(p, 0, double.MaxValue), 0.99),
            to - p.Seconds(p.PutTicks[p.PoisonId]),
            poisoned.PeakBuffered,
            poisoned.PeakManagedBytes / 1048576.0,
            poisoned.PeakCheckpointLag,
            baseline.PeakCheckpointLag);
    }

    /// <summary>Each measure's median over the repeated runs of one configuration.</summary>
    private static Row Median(List<Row> rows)
    {
        double M(Func<Row, double> field) => Percentiles.Median([.. rows.Select(field)]);
        Row first = rows[0];
        return first with
        {
            WindowFrom = M(static r => r.WindowFrom),
            WindowTo = M(static r => r.WindowTo),
            RateBaseline = M(static r => r.RateBaseline),
            RatePoisoned = M(static r => r.RatePoisoned),
            P50Baseline = M(static r => r.P50Baseline),
            P50Poisoned = M(static r => r.P50Poisoned),
            P99Baseline = M(static r => r.P99Baseline),
            P99Poisoned = M(static r => r.P99Poisoned),
            P99WholeRunPoisoned = M(static r => r.P99WholeRunPoisoned),
            TimeToDeadLetter = M(static r => r.TimeToDeadLetter),
            PeakBuffered = (int)M(static r => r.PeakBuffered),
            PeakManagedMb = M(static r => r.PeakManagedMb),
            PeakCheckpointLag = (long)M(static r => r.PeakCheckpointLag),
            PeakCheckpointLagBaseline = (long)M(static r => r.PeakCheckpointLagBaseline),
            KeptMedian = M(static r => r.Kept),
            Repeats = rows.Count,
        };
    }

    private static bool IsHealthy(RunRecorder recorder, int id) => recorder.KeyIndex[id] != RunSettings.PoisonKey;

    /// <summary>Healthy records handled per second between two times (seconds since start).</summary>
    private static double HealthyRate(RunRecorder recorder, double from, double to)
    {
        int handled = 0;
        for (int id = 0; id < recorder.Count; id++)
        {
            if (IsHealthy(recorder, id) && recorder.Seconds(recorder.DoneTicks[id]) is double done && done >= from && done < to)
            {
                handled++;
            }
        }

        return handled / (to - from);
    }

    /// <summary>Put → handled latencies (ms) of the healthy records put between two times.</summary>
    private static List<double> Latencies(RunRecorder recorder, double from, double to)
    {
        var latencies = new List<double>();
        for (int id = 0; id < recorder.Count; id++)
        {
            double put = recorder.Seconds(recorder.PutTicks[id]);
            if (IsHealthy(recorder, id) && put >= from && put < to)
            {
                latencies.Add((recorder.DoneTicks[id] - recorder.PutTicks[id]) * 1000.0 / Stopwatch.Frequency);
            }
        }

        return latencies;
    }

    private static List<(double X, double Y)> HealthyThroughputSeries(RunResult run)
    {
        RunRecorder recorder = run.Recorder;
        var buckets = new int[(int)Math.Ceiling(run.Elapsed.TotalSeconds / BucketSeconds) + 1];
        for (int id = 0; id < recorder.Count; id++)
        {
            if (IsHealthy(recorder, id))
            {
                buckets[Math.Clamp((int)(recorder.Seconds(recorder.DoneTicks[id]) / BucketSeconds), 0, buckets.Length - 1)]++;
            }
        }

        return [.. buckets.Select(static (count, i) => ((i + 0.5) * BucketSeconds, count / BucketSeconds))];
    }

    private static string DescribeHashedLane(int shards, int keys)
    {
        var stream = new InMemoryStream("layout", shards);
        string[] names = ScenarioRunner.KeyNames(keys);
        string poison = names[RunSettings.PoisonKey];
        int shard = stream.ShardIndexOf(poison);
        int lane = LaneKeys.HashedLane(poison);
        int inShard = names.Count(name => name != poison && stream.ShardIndexOf(name) == shard);
        int inLane = names.Count(name => name != poison && stream.ShardIndexOf(name) == shard && LaneKeys.HashedLane(name) == lane);
        return $"the poison key is on shard {shard} with {inShard} healthy keys; {inLane} of them share its hashed lane ({(double)inLane / (keys - 1):P1} of all healthy keys)";
    }

    private static string Table(List<Row> rows)
    {
        var table = new StringBuilder();
        table.AppendLine("| Shards | Ordering | Healthy rec/s, no poison | Healthy rec/s, poison retrying | Kept | p50 ms (no poison → poison) | p99 ms (no poison → poison) | Δp99 ms | p99 ms, whole poison run | Poison put → dead letter | Peak buffered | Peak managed heap | Peak checkpoint lag (no poison → poison) |");
        table.AppendLine("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (Row row in rows)
        {
            table.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {row.Shards} | {LaneKeys.Label(row.Ordering)} | {row.RateBaseline:N0} | {row.RatePoisoned:N0} | {row.Kept:P1} | {row.P50Baseline:F2} → {row.P50Poisoned:F2} | {row.P99Baseline:F2} → {row.P99Poisoned:F2} | {row.P99Poisoned - row.P99Baseline:+0.00;-0.00} | {row.P99WholeRunPoisoned:N1} | {row.TimeToDeadLetter:F2} s | {row.PeakBuffered:N0} | {row.PeakManagedMb:F0} MB | {row.PeakCheckpointLagBaseline:N0} → {row.PeakCheckpointLag:N0} |"));
        }

        table.AppendLine();
        table.AppendLine("Rates and latencies cover the poison record's retries (its first attempt to its dead letter); the no-poison run is read over the same seconds. Healthy = every key but the poison record's.");
        table.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Each cell is the median over {rows[0].Repeats} back-to-back pair(s) of runs (no poison, then poison); Kept is the median of the pairs' ratios."));
        return table.ToString();
    }

    private static string Targets(List<Row> rows)
    {
        var lines = new StringBuilder("Targets:\n");
        foreach (Row row in rows)
        {
            string verdict = row.Ordering switch
            {
                LaneOrdering.PerKey => $"keeps >= 99% ({(row.Kept >= 0.99 ? "met" : "missed")}); p99 rises <= 5 ms ({(row.P99Poisoned - row.P99Baseline <= 5 ? "met" : "missed")})",
                LaneOrdering.Hashed10 => "expected near 90% with 1 shard",
                _ => "expected near 0% with 1 shard",
            };
            lines.AppendLine(string.Create(CultureInfo.InvariantCulture, $"  {row.Shards} shard(s), {LaneKeys.Label(row.Ordering)}: kept {row.Kept:P1}; {verdict}"));
        }

        return lines.ToString();
    }

    /// <summary>A path in the repository (the directory holding Engine.sln, searched upwards from the current one).</summary>
    private static string RepositoryPath(params string[] parts)
    {
        for (DirectoryInfo? directory = new(Environment.CurrentDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Engine.sln")))
            {
                return Path.Combine([directory.FullName, .. parts]);
            }
        }

        return Path.Combine([Environment.CurrentDirectory, .. parts]);
    }
}
