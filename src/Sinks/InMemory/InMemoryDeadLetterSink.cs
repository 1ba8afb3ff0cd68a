using System.Runtime.CompilerServices;

namespace StreamLanes.Sinks;

/// <summary>A dead-letter sink in process memory, for tests and demos. Its contents are lost with the process.</summary>
public sealed class InMemoryDeadLetterSink : IDeadLetterSink, IDeadLetterStore
{
    private readonly List<DeadLetterEnvelope> _envelopes = [];

    /// <summary>The dead letters held now (written and not deleted), in write order; a snapshot.</summary>
    public IReadOnlyCollection<DeadLetterEnvelope> Envelopes
    {
        get
        {
            lock (_envelopes)
            {
                return [.. _envelopes];
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask WriteAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_envelopes)
        {
            _envelopes.Add(envelope);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<StoredDeadLetter> ReadAsync(DeadLetterFilter filter, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        await Task.CompletedTask.ConfigureAwait(false);
        foreach (DeadLetterEnvelope envelope in Envelopes)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (filter.Matches(envelope))
            {
                yield return new StoredDeadLetter(envelope, envelope);
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask DeleteAsync(StoredDeadLetter deadLetter, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deadLetter);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_envelopes)
        {
            _envelopes.Remove((DeadLetterEnvelope)deadLetter.Handle!);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask<StoredDeadLetter> ReplaceAsync(StoredDeadLetter deadLetter, DeadLetterEnvelope replacement, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deadLetter);
        ArgumentNullException.ThrowIfNull(replacement);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_envelopes)
        {
            int index = _envelopes.IndexOf((DeadLetterEnvelope)deadLetter.Handle!);
            if (index >= 0)
            {
                _envelopes[index] = replacement;
            }
            else
            {
                _envelopes.Add(replacement);
            }
        }

        return ValueTask.FromResult(new StoredDeadLetter(replacement, replacement));
    }

    /// <inheritdoc/>
    public ValueTask ReleaseAsync(IReadOnlyCollection<StoredDeadLetter> deadLetters, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;
}
