using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using StreamLanes.Benchmarks.Support;

namespace StreamLanes.Benchmarks.Micro;

/// <summary>
/// What tracing costs per record in the whole engine (as <see cref="EngineThroughputBenchmarks"/>, 1,000 keys, no-op
/// handler): nobody listening to the <c>StreamLanes</c> activity source (the default: must stay ~0), an
/// <see cref="ActivityListener"/> that listens but samples nothing (the source has a listener, no span is made), and
/// one that records every span (<see cref="ActivitySamplingResult.AllDataAndRecorded"/>: a processing span and an
/// attempt span per record, with their attributes; the stopped spans are dropped, so no exporter cost is included).
/// </summary>
/// <remarks>
/// BenchmarkDotNet runs each case in its own process, so a case's listener never sees another case's records; the
/// per-case <see cref="GlobalSetupAttribute"/> registers it before the consumer starts.
/// </remarks>
[InvocationCount(1, 1)]
[MemoryDiagnoser]
public class TracingCostBenchmarks
{
    public const int RecordsPerInvocation = 200_000;
    private const int Keys = 1_000;

    private BenchmarkConsumer _consumer = null!;
    private ActivityListener? _listener;
    private string[] _keys = [];
    private StreamRecord[] _records = [];
    private ulong _nextSequence = 1;

    [GlobalSetup(Target = nameof(NoListener))]
    public void WithoutListener() => Start(null);

    [GlobalSetup(Target = nameof(ListenerSamplingNone))]
    public void WithListenerSamplingNone() => Start(ActivitySamplingResult.None);

    [GlobalSetup(Target = nameof(ListenerSamplingAll))]
    public void WithListenerSamplingAll() => Start(ActivitySamplingResult.AllDataAndRecorded);

    [IterationSetup]
    public void BuildRecords()
        => _records = RecordBatch.Build(_consumer.Source.StreamName, PrebuiltRecordSource.ShardId(0), _keys, RecordsPerInvocation, ref _nextSequence);

    [IterationCleanup]
    public void DropRecords() => _records = [];

    [Benchmark(Baseline = true, OperationsPerInvoke = RecordsPerInvocation)]
    public Task NoListener() => _consumer.Source.RunAsync(0, _records);

    [Benchmark(OperationsPerInvoke = RecordsPerInvocation)]
    public Task ListenerSamplingNone() => _consumer.Source.RunAsync(0, _records);

    [Benchmark(OperationsPerInvoke = RecordsPerInvocation)]
    public Task ListenerSamplingAll() => _consumer.Source.RunAsync(0, _records);

    [GlobalCleanup]
    public void GlobalCleanup()
    {
        _consumer.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _listener?.Dispose();
    }

    private void Start(ActivitySamplingResult? sampling)
    {
        _listener = SamplingListener.Start(sampling);

        _keys = RecordBatch.Keys(Keys);
        _consumer = BenchmarkConsumer.StartAsync().GetAwaiter().GetResult();
    }
}
