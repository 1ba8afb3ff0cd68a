namespace StreamLanes.Sinks;

/// <summary>
/// Dead letters at rest, for redrive: read them back, delete them, and rewrite one that failed again.
/// Implemented by every sink of this library (in-memory, JSON lines, SQS, DynamoDB).
/// </summary>
/// <remarks>
/// Reading an SQS queue receives its messages, which hides them for the read's visibility timeout: a caller that
/// reads must end with <see cref="DeleteAsync"/>, <see cref="ReplaceAsync"/> or <see cref="ReleaseAsync"/> for each
/// dead letter it was given. The other stores need no release; calling it is always allowed.
/// </remarks>
public interface IDeadLetterStore
{
    /// <summary>Reads the dead letters that match a filter, claim-checked ones loaded whole.</summary>
    /// <param name="filter">Which dead letters to return; <see cref="DeadLetterFilter.All"/> for every one.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The matching dead letters, in the store's order (not necessarily sequence order).</returns>
    IAsyncEnumerable<StoredDeadLetter> ReadAsync(DeadLetterFilter filter, CancellationToken cancellationToken = default);

    /// <summary>Deletes a dead letter read from this store (and its claim-checked body, if any).</summary>
    /// <param name="deadLetter">The dead letter, as read.</param>
    /// <param name="cancellationToken">Cancels the delete.</param>
    /// <returns>A task that completes once the store acknowledged the delete.</returns>
    ValueTask DeleteAsync(StoredDeadLetter deadLetter, CancellationToken cancellationToken = default);

    /// <summary>Replaces a dead letter read from this store by a new version (e.g. with a replay attempt appended).</summary>
    /// <param name="deadLetter">The dead letter, as read.</param>
    /// <param name="replacement">The new version; same record (same <see cref="DeadLetterEnvelope.Id"/>).</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The stored replacement, once acknowledged.</returns>
    ValueTask<StoredDeadLetter> ReplaceAsync(StoredDeadLetter deadLetter, DeadLetterEnvelope replacement, CancellationToken cancellationToken = default);

    /// <summary>Gives back dead letters read but neither deleted nor replaced (SQS: makes them visible again at once).</summary>
    /// <param name="deadLetters">The dead letters, as read.</param>
    /// <param name="cancellationToken">Cancels the release; unreleased SQS messages reappear after the visibility timeout.</param>
    /// <returns>A task that completes once released.</returns>
    ValueTask ReleaseAsync(IReadOnlyCollection<StoredDeadLetter> deadLetters, CancellationToken cancellationToken = default);
}

/// <summary>A dead letter as read from an <see cref="IDeadLetterStore"/>: the envelope and the store's handle to it.</summary>
public sealed class StoredDeadLetter
{
    /// <summary>Creates a stored dead letter (for <see cref="IDeadLetterStore"/> implementations).</summary>
    /// <param name="envelope">The envelope.</param>
    /// <param name="handle">The store's locator for the dead letter (a receipt handle, a key, a line); opaque to callers.</param>
    public StoredDeadLetter(DeadLetterEnvelope envelope, object? handle)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        Envelope = envelope;
        Handle = handle;
    }

    /// <summary>The dead letter.</summary>
    public DeadLetterEnvelope Envelope { get; }

    /// <summary>The store's locator; opaque to callers.</summary>
    public object? Handle { get; }
}
