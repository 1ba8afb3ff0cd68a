using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using StreamLanes.Checkpointing;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>
/// One shard being processed: dispatches its records to per-key lanes, tracks their completion and saves the
/// shard's safe checkpoint.
/// </summary>
internal sealed partial class ShardProcessor : IShardProcessor, IDisposable
{
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stopping;
    private readonly SemaphoreSlim _checkpointGate = new(1, 1);

    // Guarded by _lock: the lanes of keys that have buffered records, the number of pumps running or queued, and
    // whether the shard is stopping (then pumps exit instead of starting another record).
    private readonly Dictionary<string, KeyLane> _lanes = new(StringComparer.Ordinal);
    private int _activePumps;
    private bool _stopped;
    private readonly AsyncSignal _pumpsExited = new();

    private readonly AsyncSignal _drained = new();
    private SequenceNumber _savedCheckpoint;
    private long _savedCoveredCount;

    // Null for checkpointed sources: then completing a record costs nothing more than it did before the hook.
    private readonly IRecordAcknowledger? _acknowledger;

    public ShardProcessor(StreamConsumerRuntime runtime, string shardId, IShardCheckpointer checkpointer, SequenceNumber startAfter, IRecordAcknowledger? acknowledger = null)
    {
        _acknowledger = acknowledger;
        Runtime = runtime;
        ShardId = shardId;
        Checkpointer = checkpointer;
        // The tracker shares the shard's lock: a record is registered as it is queued and completed as it leaves its
        // lane, each under one lock instead of two (bench/RESULTS.md §13).
        Tracker = new CheckpointTracker(startAfter, _lock);
        Buffer = new ShardBuffer(Tracker);
        _savedCheckpoint = startAfter;
        LoadKeyState(startAfter);
        _stopping = CancellationTokenSource.CreateLinkedTokenSource(runtime.HardStopToken);

        // Cached: pumps still unwinding after the runtime was disposed must be able to read it.
        Stopping = _stopping.Token;
    }

    public StreamConsumerRuntime Runtime { get; }

    public string ShardId { get; }

    public IShardCheckpointer Checkpointer { get; }

    public CheckpointTracker Tracker { get; }

    /// <summary>This shard's part of the consumer's buffer bounds.</summary>
    public ShardBuffer Buffer { get; }

    public CancellationToken Stopping { get; }

    public int BufferedCount => Tracker.PendingCount;

    public int LaneCount
    {
        get
        {
            lock (_lock)
            {
                return _lanes.Count;
            }
        }
    }

    /// <summary>Records read that the saved checkpoint does not cover.</summary>
    public long CheckpointLag => Tracker.RegisteredCount - Volatile.Read(ref _savedCoveredCount);

    public bool IsClosed { get; private set; }

    public ValueTask EnqueueAsync(StreamRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (_resume is { } resume && TrySkipComplete(resume, record))
        {
            return ValueTask.CompletedTask;
        }

        // The key first, outside the lock: a consumer's own key function that throws leaves nothing reserved or registered.
        string key = Runtime.LaneKeyOf(record);
        if (!Runtime.Bounds.TryReserve(Buffer))
        {
            return WaitThenEnqueueAsync(record, key, cancellationToken);
        }

        Enqueue(record, key);
        return ValueTask.CompletedTask;
    }

    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        await WaitDrainedAsync(cancellationToken).ConfigureAwait(false);
        await _checkpointGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (SavesKeyState)
            {
                // The parked keys go with SHARD_END: the shard's children take them over from this state.
                await SaveWithKeyStateAsync(SequenceNumber.ShardEnd, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await Checkpointer.SaveAsync(SequenceNumber.ShardEnd, cancellationToken).ConfigureAwait(false);
            }

            _savedCheckpoint = SequenceNumber.ShardEnd;
            Volatile.Write(ref _savedCoveredCount, Tracker.RegisteredCount);
            Runtime.Counters.CheckpointSaved();
        }
        finally
        {
            _checkpointGate.Release();
        }

        IsClosed = true;
        await StopPumpsAsync().ConfigureAwait(false);
        Runtime.OnShardClosed(this);
        Log.ShardEnded(Runtime.Logger, Runtime.Name, SafeText.Escape(ShardId));
    }

    public async Task AbandonAsync()
    {
        IsClosed = true;
        int buffered = BufferedCount;
        await StopPumpsAsync().ConfigureAwait(false);
        Runtime.OnShardClosed(this);
        Log.ShardAbandoned(Runtime.Logger, Runtime.Name, SafeText.Escape(ShardId), buffered);
    }

    /// <summary>Saves the safe checkpoint if it moved since the last save.</summary>
    /// <returns>False when the checkpoint was fenced (the lease is lost).</returns>
    public async Task<bool> CheckpointAsync(CancellationToken cancellationToken)
    {
        await _checkpointGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_savedCheckpoint.IsShardEnd)
            {
                return true;
            }

            (SequenceNumber position, long covered) = Tracker.Snapshot();
            if (position.IsNone && !SavesKeyState)
            {
                return true;
            }

            if (SavesKeyState)
            {
                if (!await SaveWithKeyStateAsync(position, cancellationToken).ConfigureAwait(false))
                {
                    return true;
                }
            }
            else if (position == _savedCheckpoint)
            {
                return true;
            }
            else
            {
                await Checkpointer.SaveAsync(position, cancellationToken).ConfigureAwait(false);
            }

            _savedCheckpoint = position;
            Volatile.Write(ref _savedCoveredCount, covered);
            Runtime.Counters.CheckpointSaved();
            return true;
        }
        catch (CheckpointFencedException)
        {
            Log.CheckpointFenced(Runtime.Logger, Runtime.Name, SafeText.Escape(ShardId));
            return false;
        }
        finally
        {
            _checkpointGate.Release();
        }
    }

    public SequenceNumber SavedCheckpoint => _savedCheckpoint;

    /// <summary>
    /// After a burst over many keys, gives the lane table's memory back once the shard has no lane left: idle keys
    /// must cost nothing. Called on the checkpoint cadence rather than whenever the table empties, which made every
    /// burst regrow it (about 5 B per record at 100,000 keys).
    /// </summary>
    public void TrimIdleLanes()
    {
        lock (_lock)
        {
            if (_lanes.Count == 0 && _lanes.EnsureCapacity(0) > 4096)
            {
                _lanes.TrimExcess();
            }
        }
    }

    /// <summary>Completes when every buffered record is complete.</summary>
    public async Task WaitDrainedAsync(CancellationToken cancellationToken)
    {
        while (Tracker.PendingCount > 0)
        {
            Task drained = _drained.Arm();
            if (Tracker.PendingCount == 0)
            {
                return;
            }

            await drained.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Stops the pumps: no record starts any more, running handlers are cancelled; waits for them to exit.</summary>
    public Task StopPumpsAsync()
    {
        Task exited;
        lock (_lock)
        {
            _stopped = true;
            if (_activePumps == 0)
            {
                exited = Task.CompletedTask;
            }
            else
            {
                exited = _pumpsExited.Arm();
            }
        }

        _stopping.Cancel();
        return exited;
    }

    /// <summary>Whether <see cref="StopPumpsAsync"/> was called: a pump then starts no record (read without the lock).</summary>
    public bool StopRequested => Volatile.Read(ref _stopped);

    /// <summary>
    /// Called by a lane's pump when it has handled every record it took: completes them and takes the next ones from
    /// the lane's queue, under one lock. When none is left, or the shard is stopping, the pump ends and an empty lane
    /// is retired; a pump running on one of the shard's workers (<paramref name="onWorker"/>) is then handed the next
    /// ready lane, with its first records, in the same visit to the lock, or ends the worker when none is ready.
    /// </summary>
    /// <param name="lane">The pump's lane.</param>
    /// <param name="onWorker">Whether the pump runs on a worker whose turn has room for another lane.</param>
    /// <param name="next">The ready lane the worker runs next, or null.</param>
    /// <param name="workerEnded">Whether the worker was counted out (no lane was ready): it must return at once.</param>
    /// <returns>Whether the pump has records to handle.</returns>
    public bool TakeNext(KeyLane lane, bool onWorker, out KeyLane? next, out bool workerEnded)
    {
        bool retire = false;
        bool exited = false;
        bool taken;
        int completed;
        next = null;
        workerEnded = false;
        lock (_lock)
        {
            completed = lane.CompleteDone(Tracker);
            taken = !_stopped && lane.TakeFrom(lane.Queue);
            if (!taken)
            {
                lane.Scheduled = false;
                if (!_stopped)
                {
                    _lanes.Remove(lane.Key);
                    retire = true;
                    if (onWorker)
                    {
                        // One visit to the lock instead of two per lane activation: at 100,000 keys, one per record.
                        next = TakeReadyLocked();
                        if (next is null)
                        {
                            _workers--;
                            workerEnded = true;
                        }
                    }
                }

                exited = --_activePumps == 0 && _stopped;
            }
        }

        OnRecordsComplete(completed);
        if (retire)
        {
            Runtime.Lanes.Return(lane);
        }

        if (exited)
        {
            _pumpsExited.Signal();
        }

        return taken;
    }

    /// <summary>Completes the lane's records done so far, before its pump lets go of the thread (a wait, or the end of its turn).</summary>
    public void CompleteDone(KeyLane lane)
    {
        if (!lane.HasDoneRecords)
        {
            return;
        }

        int completed;
        lock (_lock)
        {
            completed = lane.CompleteDone(Tracker);
        }

        OnRecordsComplete(completed);
    }

    /// <summary>Called by a lane's pump when a record is handled or dead-lettered; the tracker completes it with the pump's next visit to the lock.</summary>
    public void OnRecordDone(KeyLane lane, StreamRecord record)
    {
        if (_acknowledger is not null)
        {
            Acknowledge(record);
        }

        Runtime.Counters.LaneUnblocked(lane);
    }

    // The tracker has counted the records complete: their room in the buffers is free again.
    private void OnRecordsComplete(int count)
    {
        if (count == 0)
        {
            return;
        }

        Runtime.Bounds.Release(Buffer, count);
        if (Tracker.PendingCount == 0)
        {
            // Unconditional (an interlocked exchange, a full fence): a waiter arms, then re-reads the count.
            _drained.Signal();
        }
    }

    public void OnLaneStopped(KeyLane lane, Exception exception)
    {
        if (exception is not OperationCanceledException || !Stopping.IsCancellationRequested)
        {
            Log.LaneFaulted(Runtime.Logger, SafeText.ForLog(exception), Runtime.Name, SafeText.Escape(ShardId), SafeText.Escape(lane.Key));
            Runtime.ReportFault(exception);
        }

        Runtime.Counters.LaneUnblocked(lane);
        bool exited;
        int completed;
        lock (_lock)
        {
            // The records the pump handled before this one are complete whatever happens to this one.
            completed = lane.CompleteDone(Tracker);
            lane.Scheduled = false;
            exited = --_activePumps == 0 && _stopped;
        }

        OnRecordsComplete(completed);
        if (exited)
        {
            _pumpsExited.Signal();
        }
    }

    private void Acknowledge(StreamRecord record)
    {
        try
        {
            _acknowledger!.OnRecordCompleted(record);
        }
        catch (Exception ex)
        {
            // The record was handled or dead-lettered: it is complete whatever the source does with it. A failing
            // acknowledgement (an SQS message not deleted) only means it may be delivered again.
            Runtime.ReportFault(ex);
        }
    }

    /// <summary>Queues the record (its room reserved) in its key's lane.</summary>
    private void Enqueue(StreamRecord record, string key)
    {
        bool startWorker = false;
        lock (_lock)
        {
            long token = Tracker.Register(record.Position);
            ref KeyLane? lane = ref CollectionsMarshal.GetValueRefOrAddDefault(_lanes, key, out bool exists);
            if (!exists)
            {
                lane = Runtime.Lanes.Rent(this, key);
            }

            lane!.Queue.Enqueue(new LaneEntry(record, token));
            _lastEnqueued = record.Position;
            if (!lane.Scheduled && !_stopped)
            {
                startWorker = ScheduleLocked(lane);
            }
        }

        Runtime.Counters.RecordReceived(record);
        if (startWorker)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    private async ValueTask WaitThenEnqueueAsync(StreamRecord record, string key, CancellationToken cancellationToken)
    {
        await Runtime.Bounds.ReserveAsync(Buffer, cancellationToken).ConfigureAwait(false);
        Enqueue(record, key);
    }

    public void Dispose()
    {
        _stopping.Dispose();
        _checkpointGate.Dispose();
    }
}
