using System.Threading.Channels;
using BenchmarkDotNet.Attributes;
using StreamLanes.Benchmarks.Support;

namespace StreamLanes.Benchmarks.Micro;

/// <summary>
/// Whole-engine throughput with a no-op handler: source → tracker registration → per-key lanes → retry pipeline →
/// handler → tracker completion, on one shard. Each invocation runs <see cref="RecordsPerInvocation"/> records built
/// in the iteration set-up through a consumer started once, and waits until the tracker has completed all of them;
/// the reported time is per record.
/// </summary>
/// <remarks>
/// The records need fresh, increasing sequence numbers every invocation (the tracker rejects going back), so they
/// are built in <see cref="IterationSetup"/> and each iteration is one invocation of 200,000 records (100–400 ms,
/// long enough for a precise clock reading). The allocation column is then the engine's own: the records and their
/// sequence-number strings were allocated before the measured part.
/// The baseline is the simplest asynchronous hand-off a consumer could use instead: a bounded channel and one task
/// calling the same handler (no per-key order, no checkpoint, no retry).
/// </remarks>
[InvocationCount(1, 1)]
[WarmupCount(WarmupIterations)]
[MemoryDiagnoser]
public class EngineThroughputBenchmarks
{
    public const int RecordsPerInvocation = 200_000;

    /// <summary>
    /// Warm-up iterations (the Quick job's 3 are too few here): each iteration is one invocation, and the engine's
    /// hot methods reach tier-1 code only after several of them. With 3, the first half of the measured iterations ran
    /// before it, at twice the time of the rest (bench/RESULTS.md §17).
    /// </summary>
    public const int WarmupIterations = 15;

    private BenchmarkConsumer _consumer = null!;
    private string[] _keys = [];
    private StreamRecord[] _records = [];
    private ulong _nextSequence = 1;
    private readonly NoOpHandler _handler = new();

    [Params(1, 1_000, 100_000)]
    public int Keys { get; set; }

    [GlobalSetup]
    public void GlobalSetup()
    {
        _keys = RecordBatch.Keys(Keys);
        _consumer = BenchmarkConsumer.StartAsync().GetAwaiter().GetResult();
    }

    [IterationSetup]
    public void BuildRecords()
        => _records = RecordBatch.Build(_consumer.Source.StreamName, PrebuiltRecordSource.ShardId(0), _keys, RecordsPerInvocation, ref _nextSequence);

    [IterationCleanup]
    public void DropRecords() => _records = [];

    [Benchmark(Baseline = true, OperationsPerInvoke = RecordsPerInvocation)]
    public async Task ChannelHandOff()
    {
        var channel = Channel.CreateBounded<StreamRecord>(new BoundedChannelOptions(10_000) { SingleReader = true, SingleWriter = true });
        Task consumer = ConsumeAsync(channel.Reader);
        ChannelWriter<StreamRecord> writer = channel.Writer;
        foreach (StreamRecord record in _records)
        {
            if (!writer.TryWrite(record))
            {
                await writer.WriteAsync(record).ConfigureAwait(false);
            }
        }

        writer.Complete();
        await consumer.ConfigureAwait(false);
    }

    [Benchmark(OperationsPerInvoke = RecordsPerInvocation)]
    public Task Engine() => _consumer.Source.RunAsync(0, _records);

    [GlobalCleanup]
    public void GlobalCleanup() => _consumer.DisposeAsync().AsTask().GetAwaiter().GetResult();

    private async Task ConsumeAsync(ChannelReader<StreamRecord> reader)
    {
        await Task.Yield();
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out StreamRecord? record))
            {
                await _handler.HandleAsync(record.Data, new HandlerContext(BenchmarkConsumer.Name, record, 1, CancellationToken.None)).ConfigureAwait(false);
            }
        }
    }
}
