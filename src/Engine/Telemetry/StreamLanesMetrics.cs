using System.Diagnostics.Metrics;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>The names of the metrics StreamLanes publishes (System.Diagnostics.Metrics; OpenTelemetry-ready).</summary>
/// <remarks>Every instrument carries the tag <c>consumer</c>; dead letters also carry <c>reason</c>.</remarks>
public static class StreamLanesMetrics
{
    /// <summary>The meter's name: <c>StreamLanes</c>. Subscribe to it with OpenTelemetry's <c>AddMeter("StreamLanes")</c>.</summary>
    public const string MeterName = "StreamLanes";

    internal static readonly Meter Meter = new(MeterName, typeof(StreamLanesMetrics).Assembly.GetName().Version?.ToString());

    internal static readonly Counter<long> RecordsReceived = Meter.CreateCounter<long>("streamlanes.records.received", "{record}", "Records read from the source and enqueued.");
    internal static readonly Counter<long> RecordsHandled = Meter.CreateCounter<long>("streamlanes.records.handled", "{record}", "Records the handler completed successfully.");
    internal static readonly Counter<long> RecordsRetried = Meter.CreateCounter<long>("streamlanes.records.retried", "{attempt}", "Handler attempts after the first (retries).");
    internal static readonly Counter<long> RecordsDeadLettered = Meter.CreateCounter<long>("streamlanes.records.dead_lettered", "{record}", "Records durably written to the dead-letter sink.");
    internal static readonly Counter<long> SinkFailures = Meter.CreateCounter<long>("streamlanes.sink.failures", "{write}", "Failed dead-letter writes (each is retried).");
    internal static readonly Counter<long> CheckpointsSaved = Meter.CreateCounter<long>("streamlanes.checkpoints.saved", "{checkpoint}", "Shard checkpoints saved.");
    internal static readonly Gauge<long> MillisBehindLatest = Meter.CreateGauge<long>("streamlanes.source.millis_behind_latest", "ms", "How far a Kinesis shard's reader is behind the tip of the shard (tags: consumer, shard).");
    internal static readonly Histogram<double> HandlerDuration = Meter.CreateHistogram<double>("streamlanes.handler.duration", "s", "Duration of each handler attempt.");

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

    private static readonly Lock RuntimesLock = new();
    private static readonly List<StreamConsumerRuntime> Runtimes = [];

    static StreamLanesMetrics()
    {
        Meter.CreateObservableGauge("streamlanes.lanes.active", () => Observe(static r => r.ActiveLaneCount), "{lane}", "Partition-key lanes holding records.");
        Meter.CreateObservableGauge("streamlanes.lanes.blocked", () => Observe(static r => r.BlockedLaneCount), "{lane}", "Lanes whose head record has failed at least once and is retrying or waiting for the dead-letter sink.");
        Meter.CreateObservableGauge("streamlanes.records.buffered", () => Observe(static r => r.BufferedCount), "{record}", "Records read and not yet complete.");
        Meter.CreateObservableGauge("streamlanes.checkpoint.lag", () => Observe(static r => r.CheckpointLag), "{record}", "Records read that the saved checkpoints do not cover yet.");
    }

    internal static void Track(StreamConsumerRuntime runtime)
    {
        lock (RuntimesLock)
        {
            Runtimes.Add(runtime);
        }
    }

    internal static void Untrack(StreamConsumerRuntime runtime)
    {
        lock (RuntimesLock)
        {
            Runtimes.Remove(runtime);
        }
    }

    private static List<Measurement<long>> Observe(Func<StreamConsumerRuntime, long> read)
    {
        lock (RuntimesLock)
        {
            var measurements = new List<Measurement<long>>(Runtimes.Count);
            foreach (StreamConsumerRuntime runtime in Runtimes)
            {
                measurements.Add(new Measurement<long>(read(runtime), runtime.ConsumerTag));
            }

            return measurements;
        }
    }
}
