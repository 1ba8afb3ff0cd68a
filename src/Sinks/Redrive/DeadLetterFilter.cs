namespace StreamLanes.Sinks;

/// <summary>Selects dead letters; every property left <see langword="null"/> matches everything.</summary>
public sealed record DeadLetterFilter
{
    /// <summary>A filter that matches every dead letter.</summary>
    public static DeadLetterFilter All { get; } = new();

    /// <summary>Only this consumer's dead letters (exact match). Default: any consumer.</summary>
    public string? Consumer { get; init; }

    /// <summary>Only this partition key (exact match). Default: any key.</summary>
    public string? PartitionKey { get; init; }

    /// <summary>Only this reason. Default: any reason.</summary>
    public DeadLetterReason? Reason { get; init; }

    /// <summary>
    /// Only dead letters with an attempt that failed with this exception type: its full name
    /// (<c>System.TimeoutException</c>) or its simple name (<c>TimeoutException</c>). Default: any.
    /// </summary>
    public string? ExceptionType { get; init; }

    /// <summary>Only dead letters dead-lettered at or after this time. Default: no lower bound.</summary>
    public DateTimeOffset? From { get; init; }

    /// <summary>Only dead letters dead-lettered before this time. Default: no upper bound.</summary>
    public DateTimeOffset? To { get; init; }

    /// <summary>Whether a dead letter matches.</summary>
    /// <param name="envelope">The dead letter.</param>
    /// <returns><see langword="true"/> when every set criterion matches.</returns>
    public bool Matches(DeadLetterEnvelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        return (Consumer is null || string.Equals(envelope.Consumer, Consumer, StringComparison.Ordinal))
            && (PartitionKey is null || string.Equals(envelope.PartitionKey, PartitionKey, StringComparison.Ordinal))
            && (Reason is null || envelope.Reason == Reason)
            && (From is null || envelope.DeadLetteredAt >= From)
            && (To is null || envelope.DeadLetteredAt < To)
            && (ExceptionType is null || envelope.Attempts.Any(a => ExceptionTypeMatches(a.ExceptionType, ExceptionType)));
    }

    private static bool ExceptionTypeMatches(string actual, string wanted)
        => string.Equals(actual, wanted, StringComparison.Ordinal)
            || (actual.EndsWith(wanted, StringComparison.Ordinal) && actual.Length > wanted.Length && actual[actual.Length - wanted.Length - 1] is '.' or '+');
}
