namespace StreamLanes;

/// <summary>
/// The shard's workers: thread-pool work items that run its ready lanes one after another, so that a lane whose key
/// got a record does not cost a work item of its own.
/// </summary>
/// <remarks>
/// A lane that gets its first record joins the shard's ready queue (under the shard's lock, which the enqueue holds
/// anyway); a worker is started only while fewer than <c>MaxConcurrentHandlers</c> are queued or running, since no more
/// handlers than that run at once. A worker takes ready lanes until none is left, running each until its queue is
/// empty, its record waits (the lane then resumes on its own continuation) or its turn ends. With a handler that
/// completes at once, one work item thus serves many lanes: at 100,000 keys, where every record opens a lane, this
/// was a work item (and often a thread wake-up) per record (bench/RESULTS.md §13).
/// </remarks>
internal sealed partial class ShardProcessor : IThreadPoolWorkItem
{
    // A worker gives its thread back after this many lanes, so that other work (the readers included) gets to run.
    private const int LanesPerWorkerTurn = 64;

    // Guarded by _lock: lanes scheduled (counted in _activePumps) and not yet taken by a worker, and the workers
    // queued or running. Invariant: while _ready is not empty, at least one worker is queued or running.
    private readonly Queue<KeyLane> _ready = new();
    private int _workers;

    /// <summary>Schedules a lane that got a record and has no pump (under the lock); true when a worker must be started.</summary>
    private bool ScheduleLocked(KeyLane lane)
    {
        lane.Scheduled = true;
        _activePumps++;
        _ready.Enqueue(lane);
        if (_workers < Runtime.Attempts.Gate.Slots)
        {
            _workers++;
            return true;
        }

        return false;
    }

    /// <summary>A worker's turn: runs ready lanes until none is left or the turn ends.</summary>
    public void Execute()
    {
        KeyLane? lane = null;
        for (int turn = 0; ; turn++)
        {
            if (lane is null)
            {
                bool exited = false;
                bool requeue = false;
                lock (_lock)
                {
                    if (_stopped)
                    {
                        // No lane starts after a stop: the waiting ones are unscheduled, as their own pumps would end.
                        while (_ready.TryDequeue(out KeyLane? waiting))
                        {
                            waiting.Scheduled = false;
                            _activePumps--;
                        }

                        exited = _activePumps == 0;
                        _workers--;
                    }
                    else if (_ready.Count == 0)
                    {
                        _workers--;
                    }
                    else if (turn >= LanesPerWorkerTurn)
                    {
                        requeue = true;
                    }
                    else
                    {
                        lane = TakeReadyLocked();
                    }
                }

                if (exited)
                {
                    _pumpsExited.Signal();
                }

                if (requeue)
                {
                    ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
                    return;
                }

                if (lane is null)
                {
                    return;
                }
            }

            // A lane that ends empty hands this worker the next ready one (taken under the lock it ends in), or ends
            // the worker when none is ready.
            lane = lane.RunOnWorker(mayTakeNextLane: turn + 1 < LanesPerWorkerTurn, out bool workerEnded);
            if (workerEnded)
            {
                return;
            }
        }
    }

    /// <summary>Takes the next ready lane for a worker, with its first records (under the lock).</summary>
    private KeyLane? TakeReadyLocked()
    {
        if (!_ready.TryDequeue(out KeyLane? lane))
        {
            return null;
        }

        // A lane that stopped in the middle of what it took goes on with that first.
        if (lane.TakenNext == lane.TakenCount)
        {
            lane.TakeFrom(lane.Queue);
        }

        return lane;
    }
}
