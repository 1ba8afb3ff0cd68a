using System.Runtime.InteropServices;
using System.Threading.Channels;
using BenchmarkDotNet.Attributes;
using StreamLanes.Benchmarks.Support;

namespace StreamLanes.Benchmarks.Micro;

/// <summary>
/// A lane's queue as the engine uses it today (a pooled <see cref="Queue{T}"/> under the shard's lock) against a
/// <see cref="Channel{T}"/> lane (unbounded, single reader, pooled with the lane), with the dispatcher's access pattern:
/// the shard's reader enqueues each record into its key's lane (renting a lane from the pool when the key has none),
/// the lane's pump dequeues it, and an emptied lane goes back to the pool with the engine's policy (LanePool: at most
/// 16,384 pooled lanes; the first 8 keep their queue's capacity, the others are trimmed back to 64 entries).
/// </summary>
/// <remarks>
/// <see cref="PerRecordQueue"/> and <see cref="PerRecordChannel"/> move <see cref="RecordsPerInvocation"/> records through
/// the lanes in rounds of 10,000 (the default shard buffer): enqueue a round, then drain every lane. Time and bytes
/// are per record. <see cref="IdleQueueLane"/> and <see cref="IdleChannelLane"/> build lanes that have handled one
/// record and now sit empty in the pool: bytes are per idle lane (what a pooled lane of an idle key keeps).
/// </remarks>
[MemoryDiagnoser]
public class LaneQueueBenchmarks
{
    public const int RecordsPerInvocation = 200_000;
    private const int Round = 10_000;
    private const int MaxPooledLanes = 16_384;
    private const int WarmPooledLanes = 8;
    private const int IdleLanes = 1_000;

    private static readonly UnboundedChannelOptions LaneChannelOptions = new() { SingleReader = true, SingleWriter = true };

    private readonly Lock _shardLock = new();
    private readonly Dictionary<string, QueueLane> _queueLanes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ChannelLane> _channelLanes = new(StringComparer.Ordinal);
    private readonly Stack<QueueLane> _queuePool = new();
    private readonly Stack<ChannelLane> _channelPool = new();
    private readonly List<string> _active = [];
    private StreamRecord[] _records = [];
    private object[] _idle = [];

    [Params(1, 1_000, 100_000)]
    public int Keys { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        ulong sequence = 1;
        _records = RecordBatch.Build("bench-stream", PrebuiltRecordSource.ShardId(0), RecordBatch.Keys(Keys), RecordsPerInvocation, ref sequence);
        _idle = new object[IdleLanes];
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = RecordsPerInvocation)]
    public long PerRecordQueue()
    {
        long sum = 0;
        for (int start = 0; start < _records.Length; start += Round)
        {
            for (int i = start; i < start + Round; i++)
            {
                StreamRecord record = _records[i];
                lock (_shardLock)
                {
                    ref QueueLane? lane = ref CollectionsMarshal.GetValueRefOrAddDefault(_queueLanes, record.PartitionKey, out bool exists);
                    if (!exists)
                    {
                        lane = _queuePool.TryPop(out QueueLane? pooled) ? pooled : new QueueLane();
                        _active.Add(record.PartitionKey);
                    }

                    lane!.Queue.Enqueue(new LaneEntry(record, i));
                }
            }

            foreach (string key in _active)
            {
                QueueLane lane = _queueLanes[key];
                while (true)
                {
                    // The pump's turn as ShardProcessor.NextEntry took it until session 4: under the shard's lock, one entry at a
                    // time (TakeNext now takes up to KeyLane.MaxTaken at once; this comparison keeps the one-at-a-time pattern).
                    lock (_shardLock)
                    {
                        if (!lane.Queue.TryDequeue(out LaneEntry entry))
                        {
                            _queueLanes.Remove(key);
                            if (_queuePool.Count >= WarmPooledLanes && lane.Queue.EnsureCapacity(0) > 64)
                            {
                                lane.Queue.TrimExcess();
                            }

                            if (_queuePool.Count < MaxPooledLanes)
                            {
                                _queuePool.Push(lane);
                            }

                            break;
                        }

                        sum += entry.Token;
                    }
                }
            }

            _active.Clear();
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = RecordsPerInvocation)]
    public long PerRecordChannel()
    {
        long sum = 0;
        for (int start = 0; start < _records.Length; start += Round)
        {
            for (int i = start; i < start + Round; i++)
            {
                StreamRecord record = _records[i];
                ChannelLane? lane;
                lock (_shardLock)
                {
                    ref ChannelLane? slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_channelLanes, record.PartitionKey, out bool exists);
                    if (!exists)
                    {
                        slot = _channelPool.TryPop(out ChannelLane? pooled) ? pooled : new ChannelLane();
                        _active.Add(record.PartitionKey);
                    }

                    lane = slot;
                }

                // A channel needs no outer lock for its own queue; the shard's lock still guards the lanes table.
                lane!.Channel.Writer.TryWrite(new LaneEntry(record, i));
            }

            foreach (string key in _active)
            {
                ChannelLane lane = _channelLanes[key];
                ChannelReader<LaneEntry> reader = lane.Channel.Reader;
                while (reader.TryRead(out LaneEntry entry))
                {
                    sum += entry.Token;
                }

                lock (_shardLock)
                {
                    _channelLanes.Remove(key);
                    if (_channelPool.Count < MaxPooledLanes)
                    {
                        _channelPool.Push(lane);
                    }
                }
            }

            _active.Clear();
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = IdleLanes)]
    public object[] IdleQueueLane()
    {
        for (int i = 0; i < _idle.Length; i++)
        {
            var lane = new QueueLane();
            lane.Queue.Enqueue(new LaneEntry(_records[i], i));
            lane.Queue.Dequeue();
            _idle[i] = lane;
        }

        return _idle;
    }

    [Benchmark(OperationsPerInvoke = IdleLanes)]
    public object[] IdleChannelLane()
    {
        for (int i = 0; i < _idle.Length; i++)
        {
            var lane = new ChannelLane();
            lane.Channel.Writer.TryWrite(new LaneEntry(_records[i], i));
            lane.Channel.Reader.TryRead(out _);
            _idle[i] = lane;
        }

        return _idle;
    }

    private sealed class QueueLane
    {
        public Queue<LaneEntry> Queue { get; } = new();
    }

    private sealed class ChannelLane
    {
        public Channel<LaneEntry> Channel { get; } = System.Threading.Channels.Channel.CreateUnbounded<LaneEntry>(LaneChannelOptions);
    }
}
