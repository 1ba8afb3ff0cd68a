namespace StreamLanes.Checkpointing;

/// <summary>
/// A lease table in memory with the DynamoDB table's semantics (see <see cref="ILeaseTable"/>): conditional writes on
/// owner and counter, the incarnation attribute, owner switches, children written with <c>SHARD_END</c>. Shared by
/// the workers of one process (tests, single-process use); thread-safe under one lock.
/// </summary>
internal sealed class InMemoryLeaseTable(string tableName = "in-memory") : ILeaseTable
{
    private readonly Dictionary<string, Lease> _leases = new(StringComparer.Ordinal);
    private readonly Dictionary<string, WorkerHeartbeat> _workers = new(StringComparer.Ordinal);
    private LeaderLock? _leader;
    private readonly Lock _lock = new();

    public string TableName => tableName;

    public Task EnsureExistsAsync(bool create, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<IReadOnlyList<Lease>> ListAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<Lease>>([.. _leases.Values.OrderBy(lease => lease.LeaseKey, StringComparer.Ordinal)]);
        }
    }

    public Task<Lease?> GetAsync(string leaseKey, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            return Task.FromResult(_leases.GetValueOrDefault(leaseKey));
        }
    }

    public Task<bool> CreateIfAbsentAsync(Lease lease, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ArgumentNullException.ThrowIfNull(lease);
        lock (_lock)
        {
            // As the DynamoDB table's item for a new lease: no owner, counter 0, only the creation's attributes.
            return Task.FromResult(_leases.TryAdd(lease.LeaseKey, new Lease
            {
                LeaseKey = lease.LeaseKey,
                Checkpoint = lease.Checkpoint,
                CheckpointSubSequence = lease.CheckpointSubSequence,
                ParentShardIds = [.. lease.ParentShardIds],
                StartingHashKey = lease.StartingHashKey is { Length: > 0 } && lease.EndingHashKey is { Length: > 0 } ? lease.StartingHashKey : null,
                EndingHashKey = lease.StartingHashKey is { Length: > 0 } && lease.EndingHashKey is { Length: > 0 } ? lease.EndingHashKey : null,
            }));
        }
    }

    public Task<Lease> RenewAsync(Lease held, CancellationToken cancellationToken)
        => UpdateAsync(held, ownerMustMatch: true, stored => stored with { Counter = stored.Counter + 1 }, cancellationToken);

    public Task<Lease> TakeAsync(Lease seen, string newOwner, string incarnation, CancellationToken cancellationToken)
        => UpdateAsync(seen, ownerMustMatch: false, stored => stored with
        {
            Owner = newOwner,
            OwnerIncarnation = incarnation,
            Counter = stored.Counter + 1,
            OwnerSwitchesSinceCheckpoint = stored.OwnerSwitchesSinceCheckpoint + (stored.Owner is not null && stored.Owner != newOwner ? 1 : 0),
            HandoffTo = null,
        }, cancellationToken);

    public Task<Lease> CheckpointAsync(Lease held, SequenceNumber position, IReadOnlyList<string>? childShardIds, byte[]? keyState, CancellationToken cancellationToken)
        => UpdateAsync(held, ownerMustMatch: true, stored => position.IsNone
            ? stored with { Counter = stored.Counter + 1, KeyState = keyState is null ? stored.KeyState : keyState.Length == 0 ? null : keyState }
            : stored.Checkpointed(position, childShardIds, keyState), cancellationToken);

    public Task<Lease> ReleaseAsync(Lease held, CancellationToken cancellationToken)
        => UpdateAsync(held, ownerMustMatch: true, stored => stored with { Owner = null, OwnerIncarnation = null, Counter = stored.Counter + 1, HandoffTo = null }, cancellationToken);

    public Task EnsureOwnerIndexAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<LeaseTableSnapshot> ScanAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            return Task.FromResult(new LeaseTableSnapshot(
                [.. _leases.Values.OrderBy(lease => lease.LeaseKey, StringComparer.Ordinal)],
                [.. _workers.Values.OrderBy(worker => worker.WorkerId, StringComparer.Ordinal)]));
        }
    }

    public Task<IReadOnlyList<string>> ListOwnedKeysAsync(string owner, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<string>>([.. _leases.Values.Where(lease => lease.Owner == owner).Select(lease => lease.LeaseKey).Order(StringComparer.Ordinal)]);
        }
    }

    public Task<Lease> RequestHandoffAsync(Lease seen, string to, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ArgumentNullException.ThrowIfNull(seen);
        lock (_lock)
        {
            // Conditional on the owner only: a request changes no ownership, and the owner's renewals move the counter.
            if (!_leases.TryGetValue(seen.LeaseKey, out Lease? stored) || stored.Owner is null || stored.Owner != seen.Owner)
            {
                throw new LeaseLostException($"Lease '{seen.LeaseKey}' in table '{tableName}' is no longer owned by '{seen.Owner}': no hand-off requested.");
            }

            Lease written = stored with { HandoffTo = to };
            _leases[seen.LeaseKey] = written;
            return Task.FromResult(written);
        }
    }

    public Task<Lease> HandOverAsync(Lease held, string to, CancellationToken cancellationToken)
        => UpdateAsync(held, ownerMustMatch: true, stored => stored with
        {
            // The latest request wins: the leader may have redirected the lease since the owner saw the first one.
            Owner = stored.HandoffTo ?? to,
            OwnerIncarnation = Lease.Assigned,
            Counter = stored.Counter + 1,
            OwnerSwitchesSinceCheckpoint = stored.OwnerSwitchesSinceCheckpoint + (stored.Owner != (stored.HandoffTo ?? to) ? 1 : 0),
            HandoffTo = null,
        }, cancellationToken);

    public Task HeartbeatAsync(string workerId, string incarnation, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            _workers[workerId] = new WorkerHeartbeat(workerId, incarnation, (_workers.GetValueOrDefault(workerId)?.Counter ?? 0) + 1);
        }

        return Task.CompletedTask;
    }

    public Task RemoveHeartbeatAsync(string workerId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            _workers.Remove(workerId);
        }

        return Task.CompletedTask;
    }

    public Task<LeaderLock?> GetLeaderAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            return Task.FromResult(_leader);
        }
    }

    public async Task<LeaderLock> AcquireLeaderAsync(LeaderLock? seen, string owner, string incarnation, CancellationToken cancellationToken)
        => (await UpdateLeaderAsync(seen, _ => new LeaderLock(owner, incarnation, (seen?.Counter ?? 0) + 1), cancellationToken).ConfigureAwait(false))!;

    public async Task<LeaderLock> RenewLeaderAsync(LeaderLock held, CancellationToken cancellationToken)
        => (await UpdateLeaderAsync(held, stored => stored! with { Counter = stored.Counter + 1 }, cancellationToken).ConfigureAwait(false))!;

    public async Task ReleaseLeaderAsync(LeaderLock held, CancellationToken cancellationToken)
        => await UpdateLeaderAsync(held, _ => null, cancellationToken).ConfigureAwait(false);

    private Task<LeaderLock?> UpdateLeaderAsync(LeaderLock? seen, Func<LeaderLock?, LeaderLock?> update, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            if (_leader != seen)
            {
                throw new LeaseLostException($"The leader lock in table '{tableName}' changed since it was read: '{_leader?.Owner}' holds it.");
            }

            _leader = update(_leader);
            return Task.FromResult(_leader);
        }
    }

    private Task<Lease> UpdateAsync(Lease lease, bool ownerMustMatch, Func<Lease, Lease> update, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ArgumentNullException.ThrowIfNull(lease);
        lock (_lock)
        {
            if (!_leases.TryGetValue(lease.LeaseKey, out Lease? stored)
                || stored.Counter != lease.Counter
                || (ownerMustMatch && stored.Owner != lease.Owner))
            {
                throw new LeaseLostException($"Lease '{lease.LeaseKey}' in table '{tableName}' changed since counter {lease.Counter} (owner '{lease.Owner}'): another worker holds or took it.");
            }

            Lease written = update(stored);
            _leases[lease.LeaseKey] = written;
            return Task.FromResult(written);
        }
    }
}
