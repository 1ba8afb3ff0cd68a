using System.Collections.Concurrent;

namespace StreamLanes.Checkpointing;

/// <summary>A checkpoint store in process memory: for tests and for consumers that may start over after a restart.</summary>
public sealed class InMemoryCheckpointStore : ICheckpointStore
{
    private readonly ConcurrentDictionary<CheckpointKey, SequenceNumber> _checkpoints = new();

    /// <summary>Every stored checkpoint.</summary>
    public IReadOnlyDictionary<CheckpointKey, SequenceNumber> Checkpoints => _checkpoints;

    /// <inheritdoc/>
    public ValueTask<SequenceNumber> GetAsync(CheckpointKey key, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(_checkpoints.TryGetValue(key, out SequenceNumber position) ? position : SequenceNumber.None);
    }

    /// <inheritdoc/>
    public ValueTask SaveAsync(CheckpointKey key, SequenceNumber position, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        _checkpoints[key] = position;
        return ValueTask.CompletedTask;
    }
}
