using BenchmarkDotNet.Running;
using StreamLanes.Benchmarks;
using StreamLanes.Benchmarks.Harness;
using StreamLanes.Benchmarks.IdleMemory;
using StreamLanes.Benchmarks.Kinesis;
using StreamLanes.Benchmarks.Profiling;

// Modes:
//   hol [options]          head-of-line scenario: shard-serial vs hashed vs per-key lanes with a poison key
//   keys [options]         speed-up by key count, 1 ms handler, no poison key
//   idle-memory [options]  memory per idle key after a burst over 1,000,000 distinct keys
//   alloc-profile [options] which types the engine allocates per record (GC AllocationTick sampling)
//   hot-loop [options]     one success-path body in a loop, for an external CPU profiler (dotnet-trace)
//   kinesis [options]      bare GetRecords loop vs StreamLanes over the same kinesis-mock stream (emulators running)
//   efo [options]          polling vs enhanced fan-out: put-to-handler latency with 1 and 3 applications, and records/s
//   keystate [options]     issue 13: records handled again after a crash with a stuck key, key state off vs on
//   leases [options]       lease table read/write units per worker: leader protocol vs every worker scanning (DynamoDB Local)
//   ratio-chart [options]  engine ÷ channel per key count from EngineThroughputBenchmarks CSV reports, as an SVG bar chart
//   anything else          BenchmarkDotNet (e.g. --filter '*'), with the Quick job unless --job is given
// The machine is shared: say how busy it was, so that a noisy run can be recognised as such.
if (args.FirstOrDefault() is "hol" or "keys" or "idle-memory" && File.Exists("/proc/loadavg"))
{
    Console.WriteLine($"load average at start: {File.ReadAllText("/proc/loadavg").Trim()} ({Environment.ProcessorCount} cores)");
}

return args.FirstOrDefault() switch
{
    "hol" => await HeadOfLineScenario.RunAsync(ScenarioArguments.Parse(args[1..])),
    "keys" => await KeyScalingScenario.RunAsync(ScenarioArguments.Parse(args[1..])),
    "idle-memory" => await IdleMemoryMeasurement.RunAsync(ScenarioArguments.Parse(args[1..])),
    "alloc-profile" => await AllocationProfile.RunAsync(ScenarioArguments.Parse(args[1..])),
    "hot-loop" => HotLoop.Run(ScenarioArguments.Parse(args[1..])),
    "kinesis" => await KinesisReadComparison.RunAsync(args[1..]),
    "efo" => await FanOutComparison.RunAsync(args[1..]),
    "keystate" => await KeyStateRestartComparison.RunAsync(args[1..]),
    "leases" => await StreamLanes.Benchmarks.Leases.LeaseTableCost.RunAsync(args[1..]),
    "ratio-chart" => RatioChart.Run(ScenarioArguments.Parse(args[1..])),
    _ => RunBenchmarks(args),
};

static int RunBenchmarks(string[] args)
{
    var summaries = BenchmarkSwitcher.FromAssembly(typeof(BenchmarkConfig).Assembly).Run(args, BenchmarkConfig.Create(args));
    return summaries.Any(summary => summary.HasCriticalValidationErrors || summary.Reports.Any(report => !report.Success)) ? 1 : 0;
}
