using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>The names of the metrics StreamLanes publishes (System.Diagnostics.Metrics; OpenTelemetry-ready).</summary>
/// <remarks>
/// Every instrument carries the tag <c>consumer</c>; the record counters (received, handled, dead-lettered) and the Kinesis
/// reader's millis-behind-latest also carry <c>stream</c> (a consumer may read several streams), dead letters <c>reason</c>. The meter is created by the
/// host's <see cref="IMeterFactory"/> (registered by every .NET host), so a test or an app with several hosts sees
/// each host's measurements on its own meter; without a factory in the services the engine creates its own meter.
/// </remarks>
public static class StreamLanesMetrics
{
    /// <summary>The meter's name: <c>StreamLanes</c>. Subscribe to it with OpenTelemetry's <c>AddMeter("StreamLanes")</c>.</summary>
    public const string MeterName = "StreamLanes";

    /// <summary>The instruments of the meter that <paramref name="host"/>'s consumer publishes to, for a source's own measurements.</summary>
    internal static StreamLanesInstruments For(ISourceHost host)
        => host is StreamConsumerRuntime runtime ? runtime.Counters.Instruments : StreamLanesInstruments.For(null);

    internal static KeyValuePair<string, object?> ReasonTag(DeadLetterReason reason) => reason switch
    {
        DeadLetterReason.RetriesExhausted => ReasonTags[0],
        DeadLetterReason.RecordTooOld => ReasonTags[1],
        DeadLetterReason.NonRetryable => ReasonTags[2],
        _ => ReasonTags[3],
    };

    private static readonly KeyValuePair<string, object?>[] ReasonTags =
    [
        new("reason", nameof(DeadLetterReason.RetriesExhausted)),
        new("reason", nameof(DeadLetterReason.RecordTooOld)),
        new("reason", nameof(DeadLetterReason.NonRetryable)),
        new("reason", nameof(DeadLetterReason.ParkedBehind)),
    ];
}

/// <summary>
/// The instruments on one <see cref="IMeterFactory"/>'s StreamLanes meter, shared by the consumers of that factory
/// (its host), with the observable gauges reading each consumer tracked on it.
/// </summary>
internal sealed class StreamLanesInstruments
{
    // One set per factory: a factory returns the same meter for the same name, and a second set of observable gauges
    // on it would report every consumer twice.
    private static readonly ConditionalWeakTable<IMeterFactory, StreamLanesInstruments> ByFactory = [];
    private static readonly Lazy<StreamLanesInstruments> Own = new(static () => new StreamLanesInstruments(new OwnMeterFactory()));

    private readonly Lock _runtimesLock = new();
    private readonly List<StreamConsumerRuntime> _runtimes = [];

    private StreamLanesInstruments(IMeterFactory factory)
    {
        Meter meter = factory.Create(new MeterOptions(StreamLanesMetrics.MeterName) { Version = typeof(StreamLanesMetrics).Assembly.GetName().Version?.ToString() });
        RecordsReceived = meter.CreateCounter<long>("streamlanes.records.received", "{record}", "Records read from the source and enqueued.");
        RecordsHandled = meter.CreateCounter<long>("streamlanes.records.handled", "{record}", "Records the handler completed successfully.");
        RecordsRetried = meter.CreateCounter<long>("streamlanes.records.retried", "{attempt}", "Handler attempts after the first (retries).");
        RecordsDeadLettered = meter.CreateCounter<long>("streamlanes.records.dead_lettered", "{record}", "Records durably written to the dead-letter sink.");
        SinkFailures = meter.CreateCounter<long>("streamlanes.sink.failures", "{write}", "Failed dead-letter writes (each is retried).");
        CheckpointsSaved = meter.CreateCounter<long>("streamlanes.checkpoints.saved", "{checkpoint}", "Shard checkpoints saved.");
        MillisBehindLatest = meter.CreateGauge<long>("streamlanes.source.millis_behind_latest", "ms", "How far a Kinesis shard's reader is behind the tip of the shard (tags: consumer, stream, shard).");
        RecordsSkippedAsComplete = meter.CreateCounter<long>("streamlanes.records.skipped_as_complete", "{record}", "Records read again after a restart or lease move that the shard's saved key state knew were complete, so not handled again.");
        KeyStateOversize = meter.CreateCounter<long>("streamlanes.keystate.oversize", "{checkpoint}", "Checkpoints saved without their incomplete set because the key state exceeded MaxKeyStateBytes.");
        ParkedKeysOverflow = meter.CreateCounter<long>("streamlanes.keystate.parked_overflow", "{checkpoint}", "Checkpoints not saved (held at the last saved one) because a shard's parked keys exceed the 256 KiB its key state may take.");
        meter.CreateObservableGauge("streamlanes.keystate.parked_keys", () => ObserveShards(static s => s.Runtime.ParkedKeyCountOf(s.ShardId)), "{key}", "Parked keys a shard's checkpoint carries (tags: consumer, shard).");
        meter.CreateObservableGauge("streamlanes.keystate.size", () => ObserveShards(static s => s.KeyStateBytes), "By", "Size of the key state saved with a shard's last checkpoint (tags: consumer, shard).");
        HandlerDuration = meter.CreateHistogram<double>("streamlanes.handler.duration", "s", "Duration of each handler attempt.");

        // OpenTelemetry's messaging conventions, with their attributes (messaging.system, messaging.destination.name,
        // messaging.operation.name, messaging.consumer.group.name, error.type) instead of the consumer tag.
        ProcessDuration = meter.CreateHistogram(
            "messaging.process.duration",
            "s",
            "Duration of processing operation.",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10] });
        ConsumedMessages = meter.CreateCounter<long>("messaging.client.consumed.messages", "{message}", "Number of messages that were delivered to the application.");
        meter.CreateObservableGauge("streamlanes.lanes.active", () => Observe(static r => r.ActiveLaneCount), "{lane}", "Partition-key lanes holding records.");
        meter.CreateObservableGauge("streamlanes.lanes.blocked", () => Observe(static r => r.BlockedLaneCount), "{lane}", "Lanes whose head record has failed at least once and is retrying or waiting for the dead-letter sink.");
        meter.CreateObservableGauge("streamlanes.records.buffered", () => Observe(static r => r.BufferedCount), "{record}", "Records read and not yet complete.");
        meter.CreateObservableGauge("streamlanes.checkpoint.lag", () => Observe(static r => r.CheckpointLag), "{record}", "Records read that the saved checkpoints do not cover yet.");
    }

    public Counter<long> RecordsReceived { get; }

    public Counter<long> RecordsHandled { get; }

    public Counter<long> RecordsRetried { get; }

    public Counter<long> RecordsDeadLettered { get; }

    public Counter<long> SinkFailures { get; }

    public Counter<long> CheckpointsSaved { get; }

    public Counter<long> RecordsSkippedAsComplete { get; }

    public Counter<long> KeyStateOversize { get; }

    public Counter<long> ParkedKeysOverflow { get; }

    public Gauge<long> MillisBehindLatest { get; }

    public Histogram<double> HandlerDuration { get; }

    /// <summary>The conventions' <c>messaging.process.duration</c>: a record's processing, from its first attempt to its outcome.</summary>
    public Histogram<double> ProcessDuration { get; }

    /// <summary>The conventions' <c>messaging.client.consumed.messages</c>: records read from the source.</summary>
    public Counter<long> ConsumedMessages { get; }

    /// <summary>The instruments of <paramref name="factory"/>'s meter; the engine's own meter when there is no factory.</summary>
    public static StreamLanesInstruments For(IMeterFactory? factory)
        => factory is null ? Own.Value : ByFactory.GetValue(factory, static f => new StreamLanesInstruments(f));

    public void Track(StreamConsumerRuntime runtime)
    {
        lock (_runtimesLock)
        {
            if (!_runtimes.Contains(runtime))
            {
                _runtimes.Add(runtime);
            }
        }
    }

    public void Untrack(StreamConsumerRuntime runtime)
    {
        lock (_runtimesLock)
        {
            _runtimes.Remove(runtime);
        }
    }

    private List<Measurement<long>> Observe(Func<StreamConsumerRuntime, long> read)
    {
        lock (_runtimesLock)
        {
            var measurements = new List<Measurement<long>>(_runtimes.Count);
            foreach (StreamConsumerRuntime runtime in _runtimes)
            {
                measurements.Add(new Measurement<long>(read(runtime), runtime.ConsumerTag));
            }

            return measurements;
        }
    }

    private List<Measurement<long>> ObserveShards(Func<ShardProcessor, long> read)
    {
        lock (_runtimesLock)
        {
            var measurements = new List<Measurement<long>>();
            foreach (StreamConsumerRuntime runtime in _runtimes)
            {
                foreach (ShardProcessor shard in runtime.Shards)
                {
                    measurements.Add(new Measurement<long>(read(shard), runtime.ConsumerTag, new KeyValuePair<string, object?>("shard", shard.ShardId)));
                }
            }

            return measurements;
        }
    }

    /// <summary>The meter factory of a consumer built without one in its services (no host): meters live for the process.</summary>
    private sealed class OwnMeterFactory : IMeterFactory
    {
        public Meter Create(MeterOptions options) => new(options);

        public void Dispose()
        {
        }
    }
}
