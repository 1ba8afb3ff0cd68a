using System.Collections.Concurrent;

namespace StreamLanes.Sinks;

/// <summary>A dead-letter sink in process memory, for tests and demos. Its contents are lost with the process.</summary>
public sealed class InMemoryDeadLetterSink : IDeadLetterSink
{
    private readonly ConcurrentQueue<DeadLetterEnvelope> _envelopes = new();

    /// <summary>The dead letters written so far, in write order.</summary>
    public IReadOnlyCollection<DeadLetterEnvelope> Envelopes => _envelopes;

    /// <inheritdoc/>
    public ValueTask WriteAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        cancellationToken.ThrowIfCancellationRequested();
        _envelopes.Enqueue(envelope);
        return ValueTask.CompletedTask;
    }
}
