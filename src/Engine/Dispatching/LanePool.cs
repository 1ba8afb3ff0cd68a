namespace StreamLanes;

/// <summary>
/// The consumer's pool of idle <see cref="KeyLane"/>s: a key's lane is rented when its first record arrives and
/// returned when its queue empties, so a key with no work costs nothing and a busy consumer does not allocate a lane
/// per burst.
/// </summary>
internal sealed class LanePool
{
    // Bounds what the pool keeps after a burst over many keys (bench/RESULTS.md §1: the pool size trades idle memory
    // for allocations at 100,000 keys).
    private const int MaxPooledLanes = 4096;

    // A hot key's lane empties whenever its pump catches up with the reader and is rented again at once: trimming its
    // queue each time would regrow it (an allocation per few records). The first few lanes in the pool keep their
    // queues, which bounds the memory this keeps to WarmPooledLanes queues.
    private const int WarmPooledLanes = 8;

    private readonly Stack<KeyLane> _lanes = new();

    public KeyLane Rent(ShardProcessor shard, string key)
    {
        KeyLane? lane;
        lock (_lanes)
        {
            _lanes.TryPop(out lane);
        }

        lane ??= new KeyLane();
        lane.Assign(shard, key);
        return lane;
    }

    public void Return(KeyLane lane)
    {
        lock (_lanes)
        {
            lane.Reset(keepCapacity: _lanes.Count < WarmPooledLanes);
            if (_lanes.Count < MaxPooledLanes)
            {
                _lanes.Push(lane);
            }
        }
    }
}
