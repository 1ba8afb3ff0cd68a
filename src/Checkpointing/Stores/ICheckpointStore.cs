namespace StreamLanes.Checkpointing;

/// <summary>Stores the last safe position of each shard, so that a restarted consumer resumes after it.</summary>
/// <remarks>
/// Implementations: <see cref="InMemoryCheckpointStore"/>, <see cref="FileCheckpointStore"/> and, for sources
/// with leases, the lease table itself. A save must be durable when the returned task completes.
/// </remarks>
public interface ICheckpointStore
{
    /// <summary>Reads a shard's checkpoint.</summary>
    /// <param name="key">The shard.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The stored position, or <see cref="SequenceNumber.None"/> when none was saved.</returns>
    ValueTask<SequenceNumber> GetAsync(CheckpointKey key, CancellationToken cancellationToken);

    /// <summary>Durably saves a shard's checkpoint.</summary>
    /// <param name="key">The shard.</param>
    /// <param name="position">The position up to which every record is complete.</param>
    /// <param name="cancellationToken">Cancels the save.</param>
    /// <returns>A task that completes once the position is stored.</returns>
    ValueTask SaveAsync(CheckpointKey key, SequenceNumber position, CancellationToken cancellationToken);
}
