namespace StreamLanes.Sinks;

/// <summary>
/// Hands a dead letter back to its consumer's handler. The engine implements it for a running consumer
/// (<c>IStreamConsumer.CreateDeadLetterReplayer()</c>); <see cref="DeadLetterRedriver.ReplayAsync"/> calls it in per-key order.
/// </summary>
public interface IDeadLetterReplayer
{
    /// <summary>The consumer whose dead letters this replayer handles.</summary>
    string Consumer { get; }

    /// <summary>Handles one dead letter through the consumer's handler (with the consumer's deserializer and retries).</summary>
    /// <param name="envelope">The dead letter.</param>
    /// <param name="cancellationToken">Cancels the replay.</param>
    /// <returns>Success, or the attempts that failed (to append to the dead letter).</returns>
    ValueTask<DeadLetterReplayResult> ReplayAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken);

    /// <summary>
    /// Called once a key's dead letters were all replayed and none is left in the store: a consumer in <c>ParkKey</c>
    /// mode releases the key.
    /// </summary>
    /// <param name="lastReplayed">The key's last replayed dead letter.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Whether a parked key was released.</returns>
    ValueTask<bool> KeyDrainedAsync(DeadLetterEnvelope lastReplayed, CancellationToken cancellationToken);
}

/// <summary>The result of replaying one dead letter.</summary>
public sealed record DeadLetterReplayResult
{
    /// <summary>A successful replay.</summary>
    public static DeadLetterReplayResult Success { get; } = new() { FailedAttempts = [] };

    /// <summary>The attempts that failed, oldest first; empty on success.</summary>
    public required IReadOnlyList<DeadLetterAttempt> FailedAttempts { get; init; }

    /// <summary>Whether the handler succeeded.</summary>
    public bool Succeeded => FailedAttempts.Count == 0;

    /// <summary>A failed replay.</summary>
    /// <param name="attempts">The failed attempts; at least one.</param>
    /// <returns>The result.</returns>
    public static DeadLetterReplayResult Failed(IReadOnlyList<DeadLetterAttempt> attempts)
    {
        ArgumentNullException.ThrowIfNull(attempts);
        return attempts.Count == 0
            ? throw new ArgumentException("A failed replay has at least one failed attempt.", nameof(attempts))
            : new DeadLetterReplayResult { FailedAttempts = attempts };
    }
}

/// <summary>Writes a dead letter's record back to a stream or queue (<see cref="DeadLetterRedriver.RepublishAsync"/>).</summary>
public interface IDeadLetterRepublisher
{
    /// <summary>Publishes the record's payload with its partition key (or message group); returns once acknowledged.</summary>
    /// <param name="envelope">The dead letter.</param>
    /// <param name="cancellationToken">Cancels the publish.</param>
    /// <returns>A task that completes once the target acknowledged the record.</returns>
    ValueTask RepublishAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken);
}
