using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using StreamLanes.Benchmarks.Support;
using StreamLanes.Checkpointing;

namespace StreamLanes.Benchmarks.Micro;

/// <summary>
/// The tracing calls a record makes, alone: the processing scope (start, outcome, end: span, links, attributes and the
/// <c>messaging.process.duration</c> measurement) and one attempt span, for a record with a producer
/// <c>traceparent</c>. The same three cases as <see cref="TracingCostBenchmarks"/>, each in its own process; single
/// threaded and nanoseconds long, so it reads the cost more precisely than the whole engine on a loaded machine.
/// </summary>
[MemoryDiagnoser]
public class TracingCallsBenchmarks
{
    private ActivityListener? _listener;
    private RecordTracing _tracing = null!;
    private StreamRecord _record = null!;

    [GlobalSetup(Target = nameof(NoListener))]
    public void WithoutListener() => Setup(null);

    [GlobalSetup(Target = nameof(ListenerSamplingNone))]
    public void WithListenerSamplingNone() => Setup(ActivitySamplingResult.None);

    [GlobalSetup(Target = nameof(ListenerSamplingAll))]
    public void WithListenerSamplingAll() => Setup(ActivitySamplingResult.AllDataAndRecorded);

    [Benchmark(Baseline = true)]
    public void NoListener() => ProcessOneRecord();

    [Benchmark]
    public void ListenerSamplingNone() => ProcessOneRecord();

    [Benchmark]
    public void ListenerSamplingAll() => ProcessOneRecord();

    [GlobalCleanup]
    public void Cleanup() => _listener?.Dispose();

    private void ProcessOneRecord()
    {
        ProcessingScope scope = _tracing.Start(_record);
        Activity? attempt = RecordTracing.StartAttempt(_record, 1);
        RecordTracing.EndAttempt(attempt, null);
        scope.Succeeded(1);
        _tracing.End(scope, _record);
    }

    private void Setup(ActivitySamplingResult? sampling)
    {
        _listener = SamplingListener.Start(sampling);

        _tracing = new RecordTracing("bench", new ConsumerCounters("bench", TimeProvider.System), TimeProvider.System);
        _record = new StreamRecord(
            SourceKind.Kinesis,
            "orders-stream",
            "shardId-000000000001",
            SequenceNumber.FromInteger(49_590_338),
            "customer-0042",
            new byte[64],
            DateTimeOffset.UnixEpoch,
            new Dictionary<string, string> { ["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" });
    }
}
