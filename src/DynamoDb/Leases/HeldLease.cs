using StreamLanes.Checkpointing;

namespace StreamLanes.DynamoDb;

/// <summary>
/// A lease this worker holds: the shard's checkpointer, fenced by the lease. Writes (renewals and checkpoints) are
/// serialized, since each increments <c>leaseCounter</c> and the next one is conditional on it.
/// </summary>
internal sealed class HeldLease : IShardCheckpointer, IKeyStateCheckpointer, IDisposable
{
    private readonly ILeaseTable _table;
    private readonly SemaphoreSlim _writes = new(1, 1);
    private Lease _lease;
    private volatile bool _lost;
    private bool _uncertain;
    private int _handingOff;
    private IReadOnlyList<string>? _childShardIds;

    public HeldLease(ILeaseTable table, Lease lease, long acquiredTimestamp)
    {
        _table = table;
        _lease = lease;
        LoadedKeyState = lease.KeyState;
        LastRenewedTimestamp = acquiredTimestamp;
    }

    public string ShardId => _lease.LeaseKey;

    public Lease Current => Volatile.Read(ref _lease);

    public bool IsLost => _lost;

    /// <summary>When the lease was last written successfully (a <see cref="TimeProvider"/> timestamp).</summary>
    public long LastRenewedTimestamp { get; private set; }

    public ValueTask<SequenceNumber> GetAsync(CancellationToken cancellationToken) => ValueTask.FromResult(Current.Position);

    public async ValueTask SaveAsync(SequenceNumber position, CancellationToken cancellationToken)
    {
        await WriteAsync((lease, token) => _table.CheckpointAsync(lease, position, Volatile.Read(ref _childShardIds), null, token), null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The key state the lease carried when this worker took it (the previous owner's last checkpoint write).</summary>
    public byte[]? LoadedKeyState { get; }

    public IReadOnlyList<ParkedKeyState> InheritedParkedKeys { get; set; } = [];

    public IReadOnlyList<string> InheritedFrom => Current.ParentShardIds;

    public string KeyStateLocation => $"lease table '{_table.TableName}', lease '{ShardId}', attribute {LeaseItem.KeyState}";

    public async ValueTask SaveAsync(SequenceNumber position, byte[] keyState, CancellationToken cancellationToken)
        => await WriteAsync((lease, token) => _table.CheckpointAsync(lease, position, Volatile.Read(ref _childShardIds), keyState, token), null, cancellationToken).ConfigureAwait(false);

    public Task RenewAsync(long timestamp, CancellationToken cancellationToken)
        => WriteAsync(_table.RenewAsync, timestamp, cancellationToken);

    public Task ReleaseAsync(CancellationToken cancellationToken)
        => WriteAsync(_table.ReleaseAsync, null, cancellationToken);

    public void MarkLost() => _lost = true;

    /// <summary>Gives the lease to <paramref name="to"/> (graceful hand-off); fenced like every write.</summary>
    public Task HandOverAsync(string to, CancellationToken cancellationToken)
        => WriteAsync((lease, token) => _table.HandOverAsync(lease, to, token), null, cancellationToken);

    /// <summary>Marks the start of a hand-off; false when one has started already.</summary>
    public bool TryBeginHandoff() => Interlocked.Exchange(ref _handingOff, 1) == 0;

    /// <summary>Whether a hand-off of this lease has started.</summary>
    public bool HandingOff => Volatile.Read(ref _handingOff) == 1;

    /// <summary>The shards that continue this one (from the last read's <c>ChildShards</c>), written with <c>SHARD_END</c>.</summary>
    public void SetChildShards(IReadOnlyList<string> childShardIds) => Volatile.Write(ref _childShardIds, childShardIds);

    private async Task ResynchronizeAsync(CancellationToken cancellationToken)
    {
        Lease? stored = await _table.GetAsync(ShardId, cancellationToken).ConfigureAwait(false);
        // The same owner id is not enough: a restarted process with this worker id takes the lease under its own
        // incarnation, and one write of ours at most (the uncertain one) can have moved the counter.
        if (stored is null
            || stored.Owner != _lease.Owner
            || stored.OwnerIncarnation != _lease.OwnerIncarnation
            || (stored.Counter != _lease.Counter && stored.Counter != _lease.Counter + 1))
        {
            throw new LeaseLostException($"Lease '{ShardId}' is now owned by '{stored?.Owner ?? "nobody"}' (incarnation '{stored?.OwnerIncarnation}', counter {stored?.Counter}).");
        }

        // Still ours: whatever changed it since was this worker's own write that seemed to fail.
        Volatile.Write(ref _lease, stored);
        _uncertain = false;
    }

    public void Dispose() => _writes.Dispose();

    private async Task WriteAsync(Func<Lease, CancellationToken, Task<Lease>> write, long? renewedTimestamp, CancellationToken cancellationToken)
    {
        await _writes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_lost)
            {
                throw new CheckpointFencedException($"This worker no longer holds the lease of shard '{ShardId}'.");
            }

            try
            {
                if (_uncertain)
                {
                    await ResynchronizeAsync(cancellationToken).ConfigureAwait(false);
                }

                Lease written = await write(_lease, cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _lease, written);
                if (renewedTimestamp is long timestamp)
                {
                    LastRenewedTimestamp = timestamp;
                }
            }
            catch (LeaseLostException ex)
            {
                _lost = true;
                throw new CheckpointFencedException(ex.Message, ex);
            }
            catch
            {
                // A write that timed out, was cancelled or lost its connection may still have been applied (and bumped
                // the counter): read the lease back before the next conditional write instead of failing it forever.
                _uncertain = true;
                throw;
            }
        }
        finally
        {
            _writes.Release();
        }
    }
}
