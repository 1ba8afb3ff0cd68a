namespace StreamLanes.Checkpointing;

/// <summary>
/// The checkpoint of one shard as its reader sees it. Sources with leases return one fenced by the lease: once the
/// lease is lost, <see cref="SaveAsync"/> throws <see cref="CheckpointFencedException"/> instead of writing.
/// </summary>
public interface IShardCheckpointer
{
    /// <summary>Reads the shard's checkpoint.</summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The stored position, or <see cref="SequenceNumber.None"/>.</returns>
    ValueTask<SequenceNumber> GetAsync(CancellationToken cancellationToken);

    /// <summary>Durably saves the shard's checkpoint.</summary>
    /// <param name="position">The position up to which every record is complete.</param>
    /// <param name="cancellationToken">Cancels the save.</param>
    /// <returns>A task that completes once the position is stored.</returns>
    /// <exception cref="CheckpointFencedException">This worker no longer owns the shard.</exception>
    ValueTask SaveAsync(SequenceNumber position, CancellationToken cancellationToken);
}

/// <summary>Thrown when a checkpoint is refused because the worker no longer holds the shard's lease.</summary>
public sealed class CheckpointFencedException : Exception
{
    /// <summary>Initializes the exception.</summary>
    public CheckpointFencedException()
    {
    }

    /// <summary>Initializes the exception with a message.</summary>
    /// <param name="message">What was refused, and why.</param>
    public CheckpointFencedException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes the exception with a message and a cause.</summary>
    /// <param name="message">What was refused, and why.</param>
    /// <param name="innerException">The cause.</param>
    public CheckpointFencedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>An unfenced <see cref="IShardCheckpointer"/> over an <see cref="ICheckpointStore"/>, for sources without leases.</summary>
/// <param name="store">The store.</param>
/// <param name="key">The shard.</param>
public sealed class StoreShardCheckpointer(ICheckpointStore store, CheckpointKey key) : IShardCheckpointer, IKeyStateCheckpointer
{
    private byte[]? _loadedKeyState;

    /// <inheritdoc/>
    public async ValueTask<SequenceNumber> GetAsync(CancellationToken cancellationToken)
    {
        if (Unwrap(store) is not IKeyStateCheckpointStore keyed)
        {
            return await store.GetAsync(key, cancellationToken).ConfigureAwait(false);
        }

        (SequenceNumber position, byte[]? state) = await keyed.GetWithKeyStateAsync(key, cancellationToken).ConfigureAwait(false);
        Volatile.Write(ref _loadedKeyState, state);
        return position;
    }

    byte[]? IKeyStateCheckpointer.LoadedKeyState => Volatile.Read(ref _loadedKeyState);

    string IKeyStateCheckpointer.KeyStateLocation
        => Unwrap(store) switch
        {
            FileCheckpointStore file => file.KeyStateLocationOf(key),
            IKeyStateCheckpointStore keyed when keyed.LocationOf(key) is { } location => location + ", attribute keyState",
            _ => $"{ToString()}, key state",
        };

    ValueTask IKeyStateCheckpointer.SaveAsync(SequenceNumber position, byte[] keyState, CancellationToken cancellationToken)
        => Unwrap(store) is IKeyStateCheckpointStore keyed
            ? keyed.SaveAsync(key, position, keyState, cancellationToken)

            // A store of the user's own keeps the plain checkpoint: correct, only without the key state.
            : store.SaveAsync(key, position, cancellationToken);

    /// <summary>Whether the store keeps key states (the in-memory and file stores do; a store of the user's own does not).</summary>
    internal bool KeepsKeyState => Unwrap(store) is IKeyStateCheckpointStore;

    private static ICheckpointStore Unwrap(ICheckpointStore candidate) => candidate is IWrappingCheckpointStore wrapper ? wrapper.Inner : candidate;

    /// <inheritdoc/>
    public ValueTask SaveAsync(SequenceNumber position, CancellationToken cancellationToken) => store.SaveAsync(key, position, cancellationToken);

    /// <summary>Where the checkpoint is kept, for error messages: the file and field for a <see cref="FileCheckpointStore"/>.</summary>
    /// <returns>A description of the checkpoint's location.</returns>
    public override string ToString()
        => Unwrap(store) is FileCheckpointStore file
            ? $"checkpoint file '{file.PathOf(key)}', field shards.{key.Shard}.sequenceNumber"
            : $"{store.GetType().Name}, consumer '{key.Consumer}', stream '{key.Stream}', shard '{key.Shard}'";
}
