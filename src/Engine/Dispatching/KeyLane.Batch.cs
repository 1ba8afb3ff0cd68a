using StreamLanes.Checkpointing;

namespace StreamLanes;

/// <summary>The records a lane's pump has taken from its queue and handles one after another.</summary>
/// <remarks>
/// The pump takes up to <see cref="MaxTaken"/> records per visit to the shard's lock, with the completion of those it
/// handled since the last visit. Per record it then takes no lock: the reader, which enqueues under the same lock on
/// another core, meets the pump's lock once per batch instead of twice per record (bench/RESULTS.md §13). Taken
/// records stay pending in the tracker until they are completed, so the buffer bounds and the checkpoint see them as
/// queued; the pump handles them in order, one at a time, so the key's order is the queue's.
/// </remarks>
internal sealed partial class KeyLane
{
    /// <summary>At most this many records are taken at once: the first one inline, the others in an array made on first need.</summary>
    public const int MaxTaken = 8;

    // Touched only by the lane's pump (one at a time), and by the shard under its lock on the pump's behalf.
    private LaneEntry _taken0;
    private LaneEntry[]? _takenMore;
    private int _takenCount;
    private int _takenNext;
    private int _takenCompleted;

    /// <summary>Records taken by the latest <see cref="TakeFrom"/>.</summary>
    public int TakenCount => _takenCount;

    /// <summary>The taken record being handled (or the next to be); those before it are done.</summary>
    public int TakenNext
    {
        get => _takenNext;
        private set => _takenNext = value;
    }

    /// <summary>Whether some taken records are done and not completed yet (the pump's own view).</summary>
    public bool HasDoneRecords => _takenNext > _takenCompleted;

    /// <summary>Taken records not completed yet (the one being handled included): still queued, for inspection.</summary>
    public int TakenPending => Volatile.Read(ref _takenCount) - Volatile.Read(ref _takenCompleted);

    public LaneEntry Taken(int index) => index == 0 ? _taken0 : _takenMore![index - 1];

    /// <summary>
    /// Completes the taken records that are done (the shard's lock is held: the tracker shares it) and forgets them.
    /// </summary>
    /// <returns>How many were completed.</returns>
    public int CompleteDone(CheckpointTracker tracker)
    {
        int from = _takenCompleted;
        int to = _takenNext;
        for (int i = from; i < to; i++)
        {
            tracker.Complete(Taken(i).Token);
            SetTaken(i, default);
        }

        Volatile.Write(ref _takenCompleted, to);
        return to - from;
    }

    /// <summary>Takes the next records from <see cref="Queue"/> (under the shard's lock) once every taken one is completed.</summary>
    /// <returns>Whether any was taken.</returns>
    public bool TakeFrom(Queue<LaneEntry> queue)
    {
        int count = Math.Min(queue.Count, MaxTaken);
        if (count > 1)
        {
            _takenMore ??= new LaneEntry[MaxTaken - 1];
        }

        for (int i = 0; i < count; i++)
        {
            SetTaken(i, queue.Dequeue());
        }

        _takenNext = 0;
        _takenCompleted = 0;
        Volatile.Write(ref _takenCount, count);
        return count > 0;
    }

    /// <summary>
    /// The lane's records not completed yet, in order: the taken ones the tracker has not completed (done or not), then
    /// the queue. Called under the shard's lock (the key state's view at a checkpoint save).
    /// </summary>
    public IEnumerable<LaneEntry> IncompleteEntries()
    {
        for (int i = _takenCompleted; i < _takenCount; i++)
        {
            yield return Taken(i);
        }

        foreach (LaneEntry entry in Queue)
        {
            yield return entry;
        }
    }

    private void SetTaken(int index, LaneEntry entry)
    {
        if (index == 0)
        {
            _taken0 = entry;
        }
        else
        {
            _takenMore![index - 1] = entry;
        }
    }
}
