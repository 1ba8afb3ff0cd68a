using System.Runtime.InteropServices;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>
/// One consumer's counters, read by its status and health check, each paired with the metric it publishes. The
/// parts of the runtime (attempts, dead-letter writer, shards) report here instead of reaching into each other.
/// </summary>
internal sealed class ConsumerCounters(string consumer, TimeProvider timeProvider)
{
    // Counted for every record, by the shard readers and by the lanes' pumps (on other cores): each on its own cache
    // line, so that counting a handled record does not take the line a reader is counting on (bench/RESULTS.md §13).
    private PaddedCount _received;
    private PaddedCount _handled;
    private long _retried;
    private long _deadLettered;
    private int _blockedLanes;
    private int _consecutiveSinkFailures;
    private long _lastCheckpointTicks = -1;

    private StreamLanesInstruments? _instruments;

    public KeyValuePair<string, object?> ConsumerTag { get; } = new("consumer", consumer);

    /// <summary>The instruments of the host's meter factory (<see cref="StreamConsumerRuntime.UseMeterFactory"/>), else the engine's own meter.</summary>
    public StreamLanesInstruments Instruments
    {
        get => _instruments ??= StreamLanesInstruments.For(null);
        set => _instruments = value;
    }

    public long Received => Interlocked.Read(ref _received.Value);

    public long Handled => Interlocked.Read(ref _handled.Value);

    public long Retried => Interlocked.Read(ref _retried);

    public long DeadLettered => Interlocked.Read(ref _deadLettered);

    public int BlockedLanes => Volatile.Read(ref _blockedLanes);

    public int ConsecutiveSinkFailures => Volatile.Read(ref _consecutiveSinkFailures);

    public DateTimeOffset? LastCheckpointAt
    {
        get
        {
            long ticks = Interlocked.Read(ref _lastCheckpointTicks);
            return ticks < 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
        }
    }

    // Records carry a "stream" tag besides "consumer": a consumer may read several streams (Kinesis multi-stream mode).
    public void RecordReceived(StreamRecord record)
    {
        Interlocked.Increment(ref _received.Value);
        Instruments.RecordsReceived.Add(1, ConsumerTag, StreamTag(record.StreamName));
        RecordTracing.Consumed(Instruments, consumer, record);
    }

    public void RecordHandled(string stream)
    {
        Interlocked.Increment(ref _handled.Value);
        Instruments.RecordsHandled.Add(1, ConsumerTag, StreamTag(stream));
    }

    private static KeyValuePair<string, object?> StreamTag(string stream) => new("stream", stream);

    public void AttemptRetried()
    {
        Interlocked.Increment(ref _retried);
        Instruments.RecordsRetried.Add(1, ConsumerTag);
    }

    /// <summary>Records a handler call's duration; reads the clock only when someone listens.</summary>
    public void AttemptDuration(long startedTimestamp)
    {
        if (Instruments.HandlerDuration.Enabled)
        {
            Instruments.HandlerDuration.Record(timeProvider.GetElapsedTime(startedTimestamp).TotalSeconds, ConsumerTag);
        }
    }

    public void RecordDeadLettered(DeadLetterReason reason, string stream)
    {
        Volatile.Write(ref _consecutiveSinkFailures, 0);
        Interlocked.Increment(ref _deadLettered);
        Instruments.RecordsDeadLettered.Add(1, ConsumerTag, StreamLanesMetrics.ReasonTag(reason), StreamTag(stream));
    }

    public void SinkWriteFailed()
    {
        Interlocked.Increment(ref _consecutiveSinkFailures);
        Instruments.SinkFailures.Add(1, ConsumerTag);
    }

    /// <summary>A record passed over on resume because the saved key state knew it was complete.</summary>
    public void RecordSkippedAsComplete() => Instruments.RecordsSkippedAsComplete.Add(1, ConsumerTag);

    /// <summary>A checkpoint saved without its incomplete set because the key state exceeded <c>MaxKeyStateBytes</c>.</summary>
    public void KeyStateOversize() => Instruments.KeyStateOversize.Add(1, ConsumerTag);

    /// <summary>A checkpoint not saved because the shard's parked keys exceed the key state's hard bound.</summary>
    public void ParkedKeysOverflow() => Instruments.ParkedKeysOverflow.Add(1, ConsumerTag);

    public void CheckpointSaved()
    {
        Interlocked.Exchange(ref _lastCheckpointTicks, timeProvider.GetUtcNow().UtcTicks);
        Instruments.CheckpointsSaved.Add(1, ConsumerTag);
    }

    /// <summary>The lane's head record failed (an attempt or a dead-letter write): counted once until it completes.</summary>
    public void LaneBlocked(KeyLane lane)
    {
        if (!lane.Blocked)
        {
            lane.Blocked = true;
            Interlocked.Increment(ref _blockedLanes);
        }
    }

    public void LaneUnblocked(KeyLane lane)
    {
        if (lane.Blocked)
        {
            lane.Blocked = false;
            Interlocked.Decrement(ref _blockedLanes);
        }
    }
}

/// <summary>A count alone on its cache line (64 bytes of padding on each side).</summary>
[StructLayout(LayoutKind.Explicit, Size = 136)]
internal struct PaddedCount
{
    [FieldOffset(64)]
    public long Value;
}
