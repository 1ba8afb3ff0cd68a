namespace StreamLanes.Sinks;

/// <summary>
/// Re-publishes each dead letter to the stream or queue it came from, with the republisher registered for its
/// <see cref="DeadLetterEnvelope.SourceKind"/> (e.g. the Kinesis republisher for <see cref="SourceKind.Kinesis"/>, the SQS
/// republisher for <see cref="SourceKind.Sqs"/>). A dead letter of a kind with no republisher (in-memory and DynamoDB
/// Streams sources cannot be written back to) fails.
/// </summary>
public sealed class SourceDeadLetterRepublisher : IDeadLetterRepublisher
{
    private readonly Dictionary<SourceKind, IDeadLetterRepublisher> _republishers;

    /// <summary>Creates a republisher.</summary>
    /// <param name="republishers">The republisher of each source kind that can be written back to.</param>
    public SourceDeadLetterRepublisher(IReadOnlyDictionary<SourceKind, IDeadLetterRepublisher> republishers)
    {
        ArgumentNullException.ThrowIfNull(republishers);
        _republishers = republishers.ToDictionary();
    }

    /// <inheritdoc/>
    public ValueTask RepublishAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        return _republishers.TryGetValue(envelope.SourceKind, out IDeadLetterRepublisher? target)
            ? target.RepublishAsync(envelope, cancellationToken)
            : throw new NotSupportedException($"Dead letter {envelope.Id} came from a {envelope.SourceKind} source, and no republisher writes back to {envelope.SourceKind} here; replay it through the consumer's handler instead.");
    }
}
