using System.Collections.Concurrent;
using System.Diagnostics;

namespace StreamLanes.Engine.Tests.Support;

/// <summary>One call of the handler, as seen by the handler.</summary>
public sealed record HandlerCall(StreamRecord Record, int Attempt, long StartedTicks, long EndedTicks, bool Succeeded, int ThreadId);

/// <summary>
/// A handler that records every call with its start and end timestamps, runs a configurable behaviour, and detects
/// two calls for one key overlapping (an invariant violation) independently of timestamps.
/// </summary>
public sealed class RecordingHandler : IStreamHandler<ReadOnlyMemory<byte>>
{
    private readonly ConcurrentDictionary<string, int> _inFlightPerKey = new();
    private readonly ConcurrentQueue<HandlerCall> _calls = new();
    private int _inFlight;
    private int _maxInFlight;
    private int _overlaps;

    /// <summary>What each call does: throw to fail the attempt.</summary>
    public Func<StreamRecord, int, CancellationToken, ValueTask> Behaviour { get; set; } = static (_, _, _) => ValueTask.CompletedTask;

    /// <summary>How records map to the key whose calls must not overlap (the partition key by default).</summary>
    public Func<StreamRecord, string> KeyOf { get; set; } = static record => record.PartitionKey;

    public IReadOnlyCollection<HandlerCall> Calls => _calls;

    public int MaxConcurrentCalls => Volatile.Read(ref _maxInFlight);

    public int Overlaps => Volatile.Read(ref _overlaps);

    public IEnumerable<HandlerCall> Successes => _calls.Where(static call => call.Succeeded);

    public async ValueTask HandleAsync(ReadOnlyMemory<byte> message, HandlerContext context)
    {
        string key = KeyOf(context.Record);
        if (_inFlightPerKey.AddOrUpdate(key, 1, static (_, count) => count + 1) > 1)
        {
            Interlocked.Increment(ref _overlaps);
        }

        int inFlight = Interlocked.Increment(ref _inFlight);
        int max;
        while (inFlight > (max = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, inFlight, max) != max)
        {
        }

        long started = Stopwatch.GetTimestamp();
        bool succeeded = false;
        try
        {
            await Behaviour(context.Record, context.Attempt, context.CancellationToken);
            succeeded = true;
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
            _inFlightPerKey.AddOrUpdate(key, 0, static (_, count) => count - 1);
            _calls.Enqueue(new HandlerCall(context.Record, context.Attempt, started, Stopwatch.GetTimestamp(), succeeded, Environment.CurrentManagedThreadId));
        }
    }
}
