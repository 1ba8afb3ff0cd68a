using StreamLanes.Sinks;

namespace StreamLanes.Engine.Tests.Support;

/// <summary>A sink that fails while <see cref="Failing"/> is set, then writes to an in-memory sink; counts attempts.</summary>
public sealed class FlakySink : IDeadLetterSink
{
    private int _attempts;

    public InMemoryDeadLetterSink Inner { get; } = new();

    private volatile bool _failing;

    public bool Failing { get => _failing; set => _failing = value; }

    public int Attempts => Volatile.Read(ref _attempts);

    public ValueTask WriteAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _attempts);
        return _failing ? ValueTask.FromException(new IOException("dead-letter store unavailable")) : Inner.WriteAsync(envelope, cancellationToken);
    }
}
