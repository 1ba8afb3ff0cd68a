using System.Collections.Concurrent;

namespace StreamLanes.Checkpointing;

/// <summary>A checkpoint store in process memory: for tests and for consumers that may start over after a restart.</summary>
public sealed class InMemoryCheckpointStore : ICheckpointStore, IKeyStateCheckpointStore
{
    private readonly ConcurrentDictionary<CheckpointKey, SequenceNumber> _checkpoints = new();
    private readonly ConcurrentDictionary<CheckpointKey, byte[]> _keyStates = new();

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

    /// <summary>The encoded key states saved beside the checkpoints.</summary>
    internal IReadOnlyDictionary<CheckpointKey, byte[]> KeyStates => _keyStates;

    ValueTask<(SequenceNumber Position, byte[]? KeyState)> IKeyStateCheckpointStore.GetWithKeyStateAsync(CheckpointKey key, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_keyStates)
        {
            return ValueTask.FromResult<(SequenceNumber, byte[]?)>((
                _checkpoints.TryGetValue(key, out SequenceNumber position) ? position : SequenceNumber.None,
                _keyStates.TryGetValue(key, out byte[]? state) ? state : null));
        }
    }

    ValueTask IKeyStateCheckpointStore.SaveAsync(CheckpointKey key, SequenceNumber position, byte[] keyState, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();

        // One lock for the pair: a reader never sees a checkpoint with another save's state.
        lock (_keyStates)
        {
            _checkpoints[key] = position;
            if (keyState.Length == 0)
            {
                _keyStates.TryRemove(key, out _);
            }
            else
            {
                _keyStates[key] = keyState;
            }
        }

        return ValueTask.CompletedTask;
    }
}
