using System.Diagnostics;
using StreamLanes.Checkpointing;

namespace StreamLanes;

/// <summary>
/// The consumer's memory bounds (invariant 4): records buffered per shard (<c>MaxBufferedRecordsPerShard</c>) and in
/// total (<c>MaxBufferedRecords</c>), and the shard readers waiting for room. One type owns both counts and every
/// waiter, as System.Threading.Channels' BoundedChannel does; a shard reader reserves before it enqueues, a record's
/// completion releases.
/// </summary>
/// <remarks>
/// A reader blocked by backpressure resumes once a quarter of the bound that stopped it is free, not at every
/// completed record, so a saturated consumer wakes its readers once per many records. A full shard waits on its own
/// signal, raised by its own completions; a reader stopped by the total waits on the shared one. (A single shared
/// waiter for both made a full shard's reader wake at every completion whenever the total was below three quarters,
/// i.e. always with fewer than 8 shards at default options: bench/RESULTS.md §6, change 2.)
/// </remarks>
internal sealed class BufferBounds
{
    private readonly int _maxPerShard;
    private readonly int _maxTotal;
    private readonly int _resumePerShard;
    private readonly int _resumeTotal;
    private readonly AsyncSignal _totalRoom = new();
    private int _total;

    public BufferBounds(int maxPerShard, int maxTotal)
    {
        _maxPerShard = maxPerShard;
        _maxTotal = maxTotal;
        _resumePerShard = maxPerShard - Math.Max(1, maxPerShard / 4);
        _resumeTotal = maxTotal - Math.Max(1, maxTotal / 4);
    }

    /// <summary>Records reserved and not yet released, over all shards.</summary>
    public int Total => Volatile.Read(ref _total);

    /// <summary>Whether a reader waits for room in the consumer's total (shards' own waits: <see cref="ShardBuffer.ReaderWaits"/>).</summary>
    public bool ReaderWaitsForTotal => _totalRoom.IsArmed;

    /// <summary>
    /// Takes room for one record in the shard's and the consumer's buffers. The consumer-wide count is reserved
    /// atomically, since several shards' readers enqueue at once; the shard's own count has a single reader.
    /// </summary>
    public bool TryReserve(ShardBuffer shard)
    {
        if (shard.Count >= _maxPerShard)
        {
            return false;
        }

        if (Interlocked.Increment(ref _total) > _maxTotal)
        {
            Interlocked.Decrement(ref _total);
            return false;
        }

        AssertInvariants(shard);
        return true;
    }

    /// <summary>Waits until <see cref="TryReserve"/> succeeds; returns holding the reservation.</summary>
    public async ValueTask ReserveAsync(ShardBuffer shard, CancellationToken cancellationToken)
    {
        while (!TryReserve(shard))
        {
            // Arm the signal of the bound that is reached, then re-check: a release between the failed reservation
            // and the arming would otherwise be missed. On waking, both bounds are checked again.
            Task room = shard.Count >= _maxPerShard ? shard.Room.Arm() : _totalRoom.Arm();
            if (TryReserve(shard))
            {
                return;
            }

            await room.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Releases the room of <paramref name="count"/> completed records of one shard (its tracker has already counted them complete).</summary>
    public void Release(ShardBuffer shard, int count)
    {
        Debug.Assert(count > 0, "Nothing to release.");
        int total = Interlocked.Add(ref _total, -count);
        int shardCount = shard.Count;
        if (shard.Room.IsArmed && shardCount <= _resumePerShard)
        {
            // The reader re-checks both bounds when it wakes: if the total is full it then waits on the shared signal.
            shard.Room.Signal();
        }

        if (_totalRoom.IsArmed && (total <= _resumeTotal || (shardCount <= _resumePerShard && total < _maxTotal)))
        {
            _totalRoom.Signal();
        }

        AssertInvariants(shard);
    }

    /// <summary>A closed shard's records that will never complete (abandoned) stop counting against the total.</summary>
    public void ReleaseAbandoned(int count)
    {
        if (count > 0)
        {
            Interlocked.Add(ref _total, -count);
            _totalRoom.Signal();
        }

        Debug.Assert(Total >= 0, "More records released than reserved.");
    }

    [Conditional("DEBUG")]
    private void AssertInvariants(ShardBuffer shard)
    {
        int total = Volatile.Read(ref _total);
        Debug.Assert(total >= 0, "More records released than reserved.");
        Debug.Assert(shard.Count <= _maxPerShard, "A shard holds more records than its bound.");
    }
}

/// <summary>One shard's part of the <see cref="BufferBounds"/>: its count (the tracker's pending records) and its reader's signal.</summary>
internal sealed class ShardBuffer(CheckpointTracker tracker)
{
    /// <summary>Records registered and not complete: the tracker counts them already, so the bound reads its count.</summary>
    public int Count => tracker.PendingCount;

    /// <summary>Raised when a quarter of the shard's buffer is free again.</summary>
    public AsyncSignal Room { get; } = new();

    public bool ReaderWaits => Room.IsArmed;
}
