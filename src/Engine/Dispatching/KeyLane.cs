using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>
/// The FIFO of one partition key on one shard, and the pump that handles its records one at a time.
/// </summary>
/// <remarks>
/// A lane exists only while its key has records; it is rented from a pool when the first record arrives and
/// returned when the queue empties, so idle keys cost nothing. The pump runs on one of the shard's workers
/// (<see cref="ShardProcessor.Execute"/>), or as its own work item after a wait or a full turn; it runs
/// synchronously as long as handling completes synchronously, and otherwise resumes through a cached continuation:
/// the steady state allocates nothing per record. While a record waits for its retry back-off, the lane holds no
/// thread and no concurrency slot, only this object.
/// </remarks>
internal sealed partial class KeyLane : IThreadPoolWorkItem
{
    private const int RecordsPerTurn = 64;

    // Created on first use: most lanes live for one record that completes synchronously and never need them, and a
    // lane beyond the pool's capacity is a fresh allocation per key (bench/RESULTS.md §1, 100,000 keys).
    private Action? _resume;
    private List<DeadLetterAttempt>? _attempts;
    private ValueTask _pending;

    /// <summary>Records of this key in sequence order, after those the pump has taken (<see cref="TakeFrom"/>). Guarded by the shard's lock.</summary>
    public Queue<LaneEntry> Queue { get; } = new();

    /// <summary>Whether a pump runs or is queued for this lane. Guarded by the shard's lock.</summary>
    public bool Scheduled { get; set; }

    public string Key { get; private set; } = "";

    public ShardProcessor Shard { get; private set; } = null!;

    // Per-record state, touched only by this lane's pump (one record at a time).
    public StreamRecord? CurrentRecord { get; private set; }

    public int AttemptNumber { get; set; }

    public DeadLetterReason? StopReason { get; set; }

    public bool Blocked { get; set; }

    public List<DeadLetterAttempt> Attempts => _attempts ??= [];

    /// <summary>The failure of the attempt called before the retry pipeline was entered (see <see cref="RecordAttempts"/>).</summary>
    public Exception? FirstFailure { get; set; }

    public void Assign(ShardProcessor shard, string key)
    {
        Shard = shard;
        Key = key;
    }

    /// <summary>Detaches the lane for the pool; <paramref name="keepCapacity"/> skips trimming its queue back to 64 entries.</summary>
    public void Reset(bool keepCapacity)
    {
        Shard = null!;
        Key = "";
        ClearFailure();
        if (!keepCapacity && Queue.Count == 0 && Queue.EnsureCapacity(0) > 64)
        {
            Queue.TrimExcess();
        }
    }

    public void BeginRecord(StreamRecord record)
    {
        CurrentRecord = record;
        ClearFailure();
        AttemptNumber = 0;
        StopReason = null;
        FirstFailure = null;
        _attempts?.Clear();
    }

    public void EndRecord()
    {
        CurrentRecord = null;
        _attempts?.Clear();
    }

    public void Execute() => Run(mayTakeNextLane: false, out _);

    /// <summary>
    /// Runs the lane's pump on one of the shard's workers (<see cref="ShardProcessor.Execute"/>).
    /// </summary>
    /// <param name="mayTakeNextLane">Whether the worker's turn has room for another lane.</param>
    /// <param name="workerEnded">Whether the shard counted the worker out (no lane was ready): it must return at once.</param>
    /// <returns>The ready lane the worker runs next, handed over when this one ended empty; else null.</returns>
    public KeyLane? RunOnWorker(bool mayTakeNextLane, out bool workerEnded) => Run(mayTakeNextLane, out workerEnded);

    private void Resume()
    {
        ValueTask pending = _pending;
        _pending = default;
        try
        {
            if (Finish(pending))
            {
                Run(mayTakeNextLane: false, out _);
            }
        }
        catch (Exception ex)
        {
            // This runs as a bare continuation: an exception escaping here would take the whole process down.
            Shard.Runtime.ReportFault(ex);
        }
    }

    private KeyLane? Run(bool mayTakeNextLane, out bool workerEnded)
    {
        workerEnded = false;
        ShardProcessor shard = Shard;
        for (int turn = 0; ; turn++)
        {
            // The taken records are done (or none was taken): complete them and take the next ones, under one lock.
            // Between takes, a stop is seen by reading a flag rather than the lock, so that no record starts after it.
            if ((TakenNext == TakenCount || shard.StopRequested) && !shard.TakeNext(this, mayTakeNextLane, out KeyLane? next, out workerEnded))
            {
                return next;
            }

            if (turn == RecordsPerTurn)
            {
                // Let other lanes' pumps and the readers run: a busy key must not monopolize a pool thread. The records
                // done so far are completed first, so that the checkpoint and the reader's room do not wait for the turn.
                shard.CompleteDone(this);
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
                return null;
            }

            ValueTask handling;
            try
            {
                handling = shard.Runtime.ProcessAsync(this, Taken(TakenNext).Record);
            }
            catch (Exception ex)
            {
                handling = ValueTask.FromException(ex);
            }

            if (!handling.IsCompleted)
            {
                // A record that waits (a slow handler, a retry back-off) must not hold back the completion of those before it.
                shard.CompleteDone(this);
                _pending = handling;
                handling.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_resume ??= Resume);
                return null;
            }

            if (!Finish(handling))
            {
                return null;
            }
        }
    }

    private bool Finish(ValueTask handling)
    {
        try
        {
            handling.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            Shard.OnLaneStopped(this, ex);
            return false;
        }

        // Handled or dead-lettered: the tracker completes it with the pump's next visit to the shard's lock.
        Shard.OnRecordDone(this, Taken(TakenNext).Record);
        TakenNext++;
        return true;
    }
}

/// <summary>A buffered record and its checkpoint-tracker token.</summary>
internal readonly record struct LaneEntry(StreamRecord Record, long Token);
