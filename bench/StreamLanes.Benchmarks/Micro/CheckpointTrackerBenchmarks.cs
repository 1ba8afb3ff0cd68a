using BenchmarkDotNet.Attributes;
using StreamLanes.Checkpointing;

namespace StreamLanes.Benchmarks.Micro;

/// <summary>
/// <see cref="CheckpointTracker"/>: one Register plus one Complete per operation, with 64 records in flight (the
/// engine's default concurrency), completed in registration order or in a shuffled order.
/// </summary>
/// <remarks>
/// Positions are Kinesis-shaped (56 decimal digits, so comparisons cost what they cost in production) and built once;
/// each invocation registers them into a fresh tracker, because a tracker only accepts increasing positions. The
/// tracker and its 64-entry pool (about 3 KB) are the only allocation, spread over 102,400 operations.
/// </remarks>
[MemoryDiagnoser]
public class CheckpointTrackerBenchmarks
{
    private const int InFlight = 64;
    private const int Operations = 1_600 * InFlight;

    private readonly long[] _tokens = new long[InFlight];
    private SequenceNumber[] _positions = [];
    private int[] _shuffled = [];

    [GlobalSetup]
    public void GlobalSetup()
    {
        // A real shard's sequence numbers share a long prefix and differ in the last digits.
        const string prefix = "495903382714902566085596925383615710959215";
        _positions = [.. Enumerable.Range(1, Operations).Select(i => new SequenceNumber(prefix + i.ToString("D14", System.Globalization.CultureInfo.InvariantCulture)))];
        _shuffled = [.. Enumerable.Range(0, InFlight)];
        new Random(42).Shuffle(_shuffled);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Operations)]
    public SequenceNumber InOrder()
    {
        var tracker = new CheckpointTracker(SequenceNumber.None);
        for (int start = 0; start < Operations; start += InFlight)
        {
            for (int i = 0; i < InFlight; i++)
            {
                _tokens[i] = tracker.Register(_positions[start + i]);
            }

            for (int i = 0; i < InFlight; i++)
            {
                tracker.Complete(_tokens[i]);
            }
        }

        return tracker.SafeCheckpoint;
    }

    [Benchmark(OperationsPerInvoke = Operations)]
    public SequenceNumber OutOfOrder()
    {
        var tracker = new CheckpointTracker(SequenceNumber.None);
        for (int start = 0; start < Operations; start += InFlight)
        {
            for (int i = 0; i < InFlight; i++)
            {
                _tokens[i] = tracker.Register(_positions[start + i]);
            }

            foreach (int i in _shuffled)
            {
                tracker.Complete(_tokens[i]);
            }
        }

        return tracker.SafeCheckpoint;
    }
}
