using StreamLanes.Checkpointing;

namespace StreamLanes.Sqs;

/// <summary>
/// SQS keeps no checkpoint (a message is done when it is deleted), but a message group parked by <c>ParkKey</c> must
/// stay parked across a restart: this checkpointer keeps only the parked groups, keyed by consumer and queue, in the
/// consumer's checkpoint store (a file in the data directory by default). The incomplete set is never kept: SQS
/// positions mean nothing outside the process that received the messages.
/// </summary>
internal sealed class SqsParkedGroups(IShardCheckpointer store) : IShardCheckpointer, IKeyStateCheckpointer
{
    private byte[] _saved = [];

    public byte[]? LoadedKeyState { get; private set; }

    public string KeyStateLocation => store is IKeyStateCheckpointer keyed ? keyed.KeyStateLocation : store.ToString() ?? nameof(SqsParkedGroups);

    /// <summary>Reads the saved parked groups (for <see cref="LoadedKeyState"/>); SQS itself always starts with no position.</summary>
    public async ValueTask<SequenceNumber> GetAsync(CancellationToken cancellationToken)
    {
        await store.GetAsync(cancellationToken).ConfigureAwait(false);
        byte[]? saved = store is IKeyStateCheckpointer keyed ? keyed.LoadedKeyState : null;
        _saved = ParkedOnly(saved);
        LoadedKeyState = _saved.Length == 0 ? null : _saved;
        return SequenceNumber.None;
    }

    public ValueTask SaveAsync(SequenceNumber position, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public async ValueTask SaveAsync(SequenceNumber position, byte[] keyState, CancellationToken cancellationToken)
    {
        byte[] parked = ParkedOnly(keyState);

        // Called every checkpoint interval with ever-new positions: only a change in the parked groups is written.
        if (parked.AsSpan().SequenceEqual(_saved) || store is not IKeyStateCheckpointer keyed)
        {
            return;
        }

        try
        {
            await keyed.SaveAsync(SequenceNumber.None, parked, cancellationToken).ConfigureAwait(false);
        }
        catch (CheckpointFencedException ex)
        {
            // A queue has no lease to lose: "fenced" here means another process wrote this consumer's parked groups.
            // Abandoning the queue's only shard would stop the consumer without a fault; failing the save keeps the
            // groups flowing and logs the refusal at every checkpoint interval, without overwriting the other's state.
            throw new InvalidOperationException(
                $"The parked message groups in {KeyStateLocation} were written by another process; they are not overwritten, so this " +
                "process's parked groups are not saved and a restart would forget them. Run one process per consumer name and queue with this store.",
                ex);
        }

        _saved = parked;
    }

    private byte[] ParkedOnly(byte[]? keyState)
    {
        if (keyState is not { Length: > 0 })
        {
            return [];
        }

        ShardKeyState state;
        try
        {
            state = ShardKeyStateCodec.Decode(keyState);
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"The parked message groups in {KeyStateLocation} are not valid: {ex.Message}", ex);
        }

        return state.ParkedKeys.Count == 0
            ? []
            : ShardKeyStateCodec.Encode(new ShardKeyState { Checkpoint = SequenceNumber.None, CustomLaneKey = state.CustomLaneKey, ParkedKeys = state.ParkedKeys }, 0).Bytes;
    }
}
