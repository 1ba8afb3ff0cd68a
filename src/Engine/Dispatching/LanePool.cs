namespace StreamLanes;

/// <summary>
/// The consumer's pool of idle <see cref="KeyLane"/>s: a key's lane is rented when its first record arrives and
/// returned when its queue empties, so a key with no work costs nothing and a busy consumer does not allocate a lane
/// per burst.
/// </summary>
internal sealed class LanePool
{
    // A consumer never has more lanes than buffered records, so a pool as large as the buffer bound serves every rent
    // after warm-up. It is capped: an idle pooled lane keeps ~200 B (the lane, its queue and its 4-entry array), and the
    // 16,384 lanes the cap allows are ~3 MB, whatever the number of keys. (A cap of 4,096 made the whole engine allocate
    // 15-59 B per record at 100,000 keys, bench/RESULTS.md §1.)
    private const int MaxPooledLanesCap = 16_384;

    // A hot key's lane empties whenever its pump catches up with the reader and is rented again at once: trimming its
    // queue each time would regrow it (an allocation per few records). The first few lanes in the pool keep their
    // queues, which bounds the memory this keeps to WarmPooledLanes queues.
    private const int WarmPooledLanes = 8;

    private readonly Stack<KeyLane> _lanes = new();
    private readonly int _capacity;

    /// <param name="maxBufferedRecords">The consumer's <c>MaxBufferedRecords</c>: no more lanes than that are ever active.</param>
    public LanePool(int maxBufferedRecords) => _capacity = Math.Clamp(maxBufferedRecords, WarmPooledLanes, MaxPooledLanesCap);

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
            if (_lanes.Count < _capacity)
            {
                _lanes.Push(lane);
            }
        }
    }
}
