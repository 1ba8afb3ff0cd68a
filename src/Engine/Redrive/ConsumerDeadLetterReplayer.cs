using StreamLanes.Checkpointing;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>Dead-letter redrive for a consumer: replays its dead letters through its own handler.</summary>
public static class StreamConsumerDeadLetterExtensions
{
    /// <summary>
    /// A replayer that hands dead letters to this consumer's handler, with its deserializer, retry pipeline
    /// (<c>MaxAttempts</c>, back-off, attempt timeout, non-retryable exceptions; <c>RetryUntilSuccess</c> is bounded by
    /// <c>MaxAttempts</c> here) and concurrency cap, and releases a parked key once its dead letters are all replayed.
    /// </summary>
    /// <param name="consumer">The consumer (resolved by name from the host's services).</param>
    /// <returns>The replayer, for <see cref="DeadLetterRedriver.ReplayAsync"/>.</returns>
    /// <exception cref="ArgumentException">The consumer is not one registered with <c>AddStreamConsumer</c>.</exception>
    public static IDeadLetterReplayer CreateDeadLetterReplayer(this IStreamConsumer consumer)
    {
        ArgumentNullException.ThrowIfNull(consumer);
        return consumer is StreamConsumerRuntime runtime
            ? new ConsumerDeadLetterReplayer(runtime)
            : throw new ArgumentException("Only consumers registered with AddStreamConsumer can replay dead letters.", nameof(consumer));
    }

    /// <summary>
    /// The consumer's own dead-letter store: the sink it writes to. Use it to list, replay or purge the consumer's dead
    /// letters while it runs, instead of opening a second sink on the same file or queue (a second JSON-lines writer
    /// would interleave with the consumer's).
    /// </summary>
    /// <param name="consumer">The consumer (resolved by name from the host's services).</param>
    /// <returns>The store.</returns>
    /// <exception cref="ArgumentException">The consumer is not one registered with <c>AddStreamConsumer</c>.</exception>
    /// <exception cref="InvalidOperationException">The consumer's sink is a custom one that is not an <see cref="IDeadLetterStore"/>.</exception>
    public static IDeadLetterStore GetDeadLetterStore(this IStreamConsumer consumer)
    {
        ArgumentNullException.ThrowIfNull(consumer);
        if (consumer is not StreamConsumerRuntime runtime)
        {
            throw new ArgumentException("Only consumers registered with AddStreamConsumer expose their dead-letter store.", nameof(consumer));
        }

        return runtime.DeadLetterSink as IDeadLetterStore
            ?? throw new InvalidOperationException($"The dead-letter sink of consumer '{runtime.Name}' ({runtime.DeadLetterSink.GetType().Name}) cannot be read back: it does not implement IDeadLetterStore.");
    }

    /// <summary>
    /// Replays this consumer's dead letters from its own store (<see cref="GetDeadLetterStore"/>) through its handler,
    /// in per-key sequence order; see <see cref="ReplayDeadLettersAsync(IStreamConsumer, IDeadLetterStore, DeadLetterRedriveOptions?, CancellationToken)"/>.
    /// </summary>
    /// <param name="consumer">The consumer.</param>
    /// <param name="options">Filter, dry run, rate.</param>
    /// <param name="cancellationToken">Cancels the replay.</param>
    /// <returns>The report.</returns>
    public static Task<DeadLetterRedriveReport> ReplayDeadLettersAsync(this IStreamConsumer consumer, DeadLetterRedriveOptions options, CancellationToken cancellationToken = default)
        => consumer.ReplayDeadLettersAsync(consumer.GetDeadLetterStore(), options, cancellationToken);

    /// <summary>
    /// Replays this consumer's dead letters from a store through its handler, in per-key sequence order: each success is
    /// deleted, each failure stays with the new attempts appended (and its key's later dead letters wait), and a key
    /// parked by <see cref="KeyFailureMode.ParkKey"/> is released once none of its dead letters is left.
    /// </summary>
    /// <param name="consumer">The consumer.</param>
    /// <param name="store">Where its dead letters are; for the consumer's own sink, use <see cref="GetDeadLetterStore"/> (never a second instance on its file).</param>
    /// <param name="options">Filter, dry run, rate; all of the consumer's dead letters when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the replay.</param>
    /// <returns>The report.</returns>
    public static Task<DeadLetterRedriveReport> ReplayDeadLettersAsync(
        this IStreamConsumer consumer,
        IDeadLetterStore store,
        DeadLetterRedriveOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        IDeadLetterReplayer replayer = consumer.CreateDeadLetterReplayer();
        var runtime = (StreamConsumerRuntime)consumer;
        return new DeadLetterRedriver(store, runtime.TimeProvider, runtime.Logger)
            .ReplayAsync(replayer, options ?? new DeadLetterRedriveOptions(), cancellationToken);
    }
}

/// <summary>Replays dead letters through a runtime's handler, with the attempts runner its live records use.</summary>
internal sealed class ConsumerDeadLetterReplayer(StreamConsumerRuntime runtime) : IDeadLetterReplayer
{
    public string Consumer => runtime.Name;

    public async ValueTask<DeadLetterReplayResult> ReplayAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        StreamRecord record = ToRecord(envelope);
        ProcessingScope trace = runtime.Tracing.StartReplay(record, envelope);
        try
        {
            IReadOnlyList<DeadLetterAttempt>? failed = await runtime.Attempts.ReplayAsync(record, envelope.Attempts.Count, cancellationToken).ConfigureAwait(false);
            if (failed is null)
            {
                // The replay succeeded (its attempt spans carry the numbers, after the envelope's).
                trace.Succeeded(1);
                return DeadLetterReplayResult.Success;
            }

            // The dead letter stays (with these attempts appended): for the trace, this processing dead-lettered it again.
            trace.DeadLettered(envelope.Reason == DeadLetterReason.ParkedBehind ? DeadLetterReason.RetriesExhausted : envelope.Reason, [.. failed]);
            return DeadLetterReplayResult.Failed(failed);
        }
        finally
        {
            runtime.Tracing.End(trace, record);
        }
    }

    public ValueTask<bool> KeyDrainedAsync(DeadLetterEnvelope lastReplayed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lastReplayed);
        return ValueTask.FromResult(runtime.ReleaseKey(runtime.LaneKeyOf(ToRecord(lastReplayed))));
    }

    private static StreamRecord ToRecord(DeadLetterEnvelope envelope)
        => new(
            envelope.SourceKind,
            envelope.Stream,
            envelope.Shard,
            new SequenceNumber(envelope.SequenceNumber, envelope.SubSequenceNumber),
            envelope.PartitionKey,
            envelope.Payload,
            envelope.ArrivalTime,
            envelope.Attributes);
}
