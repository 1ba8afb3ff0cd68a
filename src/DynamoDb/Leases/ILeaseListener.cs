namespace StreamLanes.DynamoDb;

/// <summary>What a source does when this worker gains or loses a shard's lease.</summary>
internal interface ILeaseListener
{
    /// <summary>Start processing the shard after the lease's checkpoint.</summary>
    Task OnLeaseAcquiredAsync(HeldLease lease, CancellationToken cancellationToken);

    /// <summary>Stop processing the shard at once, without checkpointing: another worker owns it now.</summary>
    Task OnLeaseLostAsync(HeldLease lease);

    /// <summary>
    /// The leader asked for the lease to move: stop reading the shard, let what is in flight finish (bounded), and
    /// checkpoint what is complete. The lease is handed over when this returns; the default stops as on a loss.
    /// </summary>
    Task OnLeaseHandoffAsync(HeldLease lease, CancellationToken cancellationToken) => OnLeaseLostAsync(lease);
}
