namespace StreamLanes.Sinks;

/// <summary>
/// Durably stores dead-lettered records. The engine counts a record as complete (and lets the checkpoint pass it)
/// only after <see cref="WriteAsync"/> returned; when it throws, the engine retries with back-off and the record's
/// partition key waits.
/// </summary>
/// <remarks>Implementations must be safe for concurrent calls.</remarks>
public interface IDeadLetterSink
{
    /// <summary>Writes one dead letter durably.</summary>
    /// <param name="envelope">The dead letter.</param>
    /// <param name="cancellationToken">Cancels the write; the record then stays incomplete.</param>
    /// <returns>A task that completes once the dead letter is stored.</returns>
    ValueTask WriteAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken);
}
