namespace StreamLanes.Checkpointing;

/// <summary>
/// The lease table's reads and conditional writes, as the lease coordinator and a held lease use them. Every write
/// that changes a lease increments its counter and is conditional on the counter (and, except for a take, the owner)
/// the writer last saw, so that a worker acting on a stale view fails with <see cref="LeaseLostException"/> instead of
/// overwriting (KCL's protocol). Each method returns the lease as written.
/// </summary>
internal interface ILeaseTable
{
    /// <summary>The table's name, for logs and messages.</summary>
    string TableName { get; }

    /// <summary>Waits until the table exists and is usable, creating it first when <paramref name="create"/> is set.</summary>
    Task EnsureExistsAsync(bool create, CancellationToken cancellationToken);

    /// <summary>Every lease, read consistently.</summary>
    Task<IReadOnlyList<Lease>> ListAsync(CancellationToken cancellationToken);

    /// <summary>One lease, read consistently, or null when it does not exist.</summary>
    Task<Lease?> GetAsync(string leaseKey, CancellationToken cancellationToken);

    /// <summary>Creates a lease for a new shard (no owner, counter 0) unless one exists.</summary>
    /// <returns>Whether this call created it.</returns>
    Task<bool> CreateIfAbsentAsync(Lease lease, CancellationToken cancellationToken);

    /// <summary>Bumps the counter if the lease still has the owner and counter of <paramref name="held"/>.</summary>
    Task<Lease> RenewAsync(Lease held, CancellationToken cancellationToken);

    /// <summary>
    /// Makes <paramref name="newOwner"/> (in run <paramref name="incarnation"/>) the owner if nobody wrote the lease
    /// since <paramref name="seen"/> was read; the counter bump fences whoever held it. The owner-switch count moves
    /// only when another owner held it.
    /// </summary>
    Task<Lease> TakeAsync(Lease seen, string newOwner, string incarnation, CancellationToken cancellationToken);

    /// <summary>
    /// Writes the checkpoint if the lease still has the owner and counter of <paramref name="held"/>, resetting the
    /// owner-switch count and any pending checkpoint; with <c>SHARD_END</c>, <paramref name="childShardIds"/> (when
    /// given) are written too. <paramref name="keyState"/> (the encoded key state) goes into the same write: null
    /// leaves the saved one, empty removes it. With <see cref="SequenceNumber.None"/> (no record complete yet) only the
    /// key state is written, fenced the same way, and the checkpoint keeps its initial position.
    /// </summary>
    Task<Lease> CheckpointAsync(Lease held, SequenceNumber position, IReadOnlyList<string>? childShardIds, byte[]? keyState, CancellationToken cancellationToken);

    /// <summary>Writes the checkpoint and leaves the saved key state as it is (see the overload with a key state).</summary>
    Task<Lease> CheckpointAsync(Lease held, SequenceNumber position, IReadOnlyList<string>? childShardIds, CancellationToken cancellationToken)
        => CheckpointAsync(held, position, childShardIds, null, cancellationToken);

    /// <summary>Removes the owner (and incarnation) if the lease still has the owner and counter of <paramref name="held"/>.</summary>
    Task<Lease> ReleaseAsync(Lease held, CancellationToken cancellationToken);

    // The leader protocol (see LeaseCoordinator): one elected worker scans and assigns, the others read their own
    // leases through an index on the owner and announce themselves with a heartbeat item.

    /// <summary>Creates the owner index (KCL 3.x's <c>LeaseOwnerToLeaseKeyIndex</c>) when missing and waits until it can be queried.</summary>
    Task EnsureOwnerIndexAsync(CancellationToken cancellationToken);

    /// <summary>Every lease and heartbeat, read eventually consistently page by page: the leader's view, which may lag a moment.</summary>
    Task<LeaseTableSnapshot> ScanAsync(CancellationToken cancellationToken);

    /// <summary>The keys of the leases naming <paramref name="owner"/>, from the owner index (eventually consistent).</summary>
    Task<IReadOnlyList<string>> ListOwnedKeysAsync(string owner, CancellationToken cancellationToken);

    /// <summary>
    /// Asks the owner to hand the lease to <paramref name="to"/> (replacing an earlier request), if it still has the
    /// owner of <paramref name="seen"/>. Neither counter nor owner moves, so the owner keeps renewing and checkpointing
    /// until it hands over; the condition is on the owner alone because a request grants nothing.
    /// </summary>
    Task<Lease> RequestHandoffAsync(Lease seen, string to, CancellationToken cancellationToken);

    /// <summary>
    /// Gives a held lease to the worker of its latest hand-off request (<paramref name="to"/> when none is stored;
    /// incarnation <see cref="Lease.Assigned"/>, counter bumped, request cleared) if it still has the owner and counter
    /// of <paramref name="held"/>.
    /// </summary>
    Task<Lease> HandOverAsync(Lease held, string to, CancellationToken cancellationToken);

    /// <summary>Creates or bumps the worker's heartbeat item.</summary>
    Task HeartbeatAsync(string workerId, string incarnation, CancellationToken cancellationToken);

    /// <summary>Removes the worker's heartbeat item (graceful stop).</summary>
    Task RemoveHeartbeatAsync(string workerId, CancellationToken cancellationToken);

    /// <summary>The leader lock (possibly a moment stale: every decision on it is a conditional write), or null when nobody holds it.</summary>
    Task<LeaderLock?> GetLeaderAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Takes the leader lock for <paramref name="owner"/> if it is still as <paramref name="seen"/> (null: absent);
    /// throws <see cref="LeaseLostException"/> otherwise.
    /// </summary>
    Task<LeaderLock> AcquireLeaderAsync(LeaderLock? seen, string owner, string incarnation, CancellationToken cancellationToken);

    /// <summary>Bumps the leader lock's counter if it is still as <paramref name="held"/>; throws <see cref="LeaseLostException"/> otherwise.</summary>
    Task<LeaderLock> RenewLeaderAsync(LeaderLock held, CancellationToken cancellationToken);

    /// <summary>Deletes the leader lock if it is still as <paramref name="held"/> (graceful stop), so another worker leads at once.</summary>
    Task ReleaseLeaderAsync(LeaderLock held, CancellationToken cancellationToken);
}
