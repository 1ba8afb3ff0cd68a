namespace StreamLanes.Checkpointing;

/// <summary>
/// A shard checkpointer that saves the shard's encoded <see cref="ShardKeyState"/> in the same (fenced) write as its
/// checkpoint, and hands back the state read with the checkpoint. Implemented by a held lease (an extra attribute of
/// the lease item) and by <see cref="StoreShardCheckpointer"/> over the in-memory and file stores.
/// </summary>
internal interface IKeyStateCheckpointer
{
    /// <summary>
    /// The encoded key state read together with the checkpoint the shard resumes from (by the lease take, or by the
    /// checkpointer's last <see cref="IShardCheckpointer.GetAsync"/>); null when none was saved.
    /// </summary>
    byte[]? LoadedKeyState { get; }

    /// <summary>
    /// Parked keys a child shard takes over from its parents (see <see cref="ParkedKeyInheritance"/>), set before the
    /// shard is opened; empty otherwise.
    /// </summary>
    IReadOnlyList<ParkedKeyState> InheritedParkedKeys => [];

    /// <summary>The parents those keys come from: they stop carrying them once the child does.</summary>
    IReadOnlyList<string> InheritedFrom => [];

    /// <summary>Where the state is kept, for error messages (the lease table and key, or the file and shard).</summary>
    string KeyStateLocation { get; }

    /// <summary>Durably saves the checkpoint and the key state in one write.</summary>
    /// <param name="position">The position up to which every record is complete.</param>
    /// <param name="keyState">The encoded state; empty removes a saved one.</param>
    /// <param name="cancellationToken">Cancels the save.</param>
    /// <exception cref="CheckpointFencedException">This worker no longer owns the shard.</exception>
    ValueTask SaveAsync(SequenceNumber position, byte[] keyState, CancellationToken cancellationToken);
}

/// <summary>
/// A checkpoint store that keeps a shard's encoded key state beside its checkpoint. A plain
/// <see cref="ICheckpointStore.SaveAsync"/> leaves a saved state as it is; a state whose checkpoint no longer matches
/// is read without its incomplete set.
/// </summary>
internal interface IKeyStateCheckpointStore : ICheckpointStore
{
    /// <summary>Reads a shard's checkpoint and its encoded key state (null when none).</summary>
    ValueTask<(SequenceNumber Position, byte[]? KeyState)> GetWithKeyStateAsync(CheckpointKey key, CancellationToken cancellationToken);

    /// <summary>Durably saves a shard's checkpoint and its encoded key state (empty: none) in one write.</summary>
    ValueTask SaveAsync(CheckpointKey key, SequenceNumber position, byte[] keyState, CancellationToken cancellationToken);

    /// <summary>Where a key's state is kept, for error messages (the table and item); null when the store has no better name than its type.</summary>
    string? LocationOf(CheckpointKey key) => null;
}

/// <summary>A store that only defers to another (the engine's lazily created default), so that its key-state support shows through.</summary>
internal interface IWrappingCheckpointStore
{
    /// <summary>The store doing the work.</summary>
    ICheckpointStore Inner { get; }
}
