using System.Diagnostics.Metrics;

namespace StreamLanes.Sinks;

/// <summary>
/// The sinks' instruments, on a meter named <c>StreamLanes</c> like the engine's: listeners subscribe by meter name,
/// so one <c>AddMeter("StreamLanes")</c> sees both. The sinks cannot use the engine's meter (the engine depends on the
/// sinks, not the other way round), and they measure what only a sink sees: acknowledged writes, refused writes and
/// how long the oldest unacknowledged dead letter has waited across the engine's retries.
/// </summary>
internal static class SinkMetrics
{
    public const string MeterName = "StreamLanes";

    public static readonly Meter Meter = new(MeterName, typeof(SinkMetrics).Assembly.GetName().Version?.ToString());

    public static readonly Counter<long> Written = Meter.CreateCounter<long>(
        "streamlanes.dead_letter_sink.written", "{dead_letter}", "Dead letters the sink's service acknowledged (tags: sink, destination, consumer).");

    public static readonly Counter<long> Failed = Meter.CreateCounter<long>(
        "streamlanes.dead_letter_sink.failed", "{write}", "Dead-letter writes that failed and will be retried by the engine (tags: sink, destination, consumer).");

    private static readonly Lock InstancesLock = new();
    private static readonly List<SinkTelemetry> Instances = [];

    static SinkMetrics()
    {
        Meter.CreateObservableGauge(
            "streamlanes.dead_letter_sink.oldest_pending_write",
            ObserveOldest,
            "s",
            "Age of the oldest dead letter whose write started but is not acknowledged yet, across retries (tags: sink, destination); 0 when none.");
    }

    public static void Register(SinkTelemetry telemetry)
    {
        lock (InstancesLock)
        {
            Instances.Add(telemetry);
        }
    }

    public static void Unregister(SinkTelemetry telemetry)
    {
        lock (InstancesLock)
        {
            Instances.Remove(telemetry);
        }
    }

    private static List<Measurement<double>> ObserveOldest()
    {
        lock (InstancesLock)
        {
            var measurements = new List<Measurement<double>>(Instances.Count);
            foreach (SinkTelemetry telemetry in Instances)
            {
                measurements.Add(new Measurement<double>(telemetry.OldestPendingAge().TotalSeconds, telemetry.Tags));
            }

            return measurements;
        }
    }
}

/// <summary>One sink's pending writes and tags. A dead letter is pending from its first write attempt until one is acknowledged.</summary>
internal sealed class SinkTelemetry : IDisposable
{
    private readonly Dictionary<string, long> _pending = new(StringComparer.Ordinal);
    private readonly TimeProvider _timeProvider;
    private readonly string _sink;
    private readonly string _destination;

    public SinkTelemetry(string sink, string destination, TimeProvider timeProvider)
    {
        _sink = sink;
        _destination = destination;
        _timeProvider = timeProvider;
        Tags = [new("sink", sink), new("destination", destination)];
        SinkMetrics.Register(this);
    }

    public KeyValuePair<string, object?>[] Tags { get; }

    public void Begin(DeadLetterEnvelope envelope)
    {
        lock (_pending)
        {
            _pending.TryAdd(envelope.Id, _timeProvider.GetTimestamp());
        }
    }

    public void Succeeded(DeadLetterEnvelope envelope)
    {
        lock (_pending)
        {
            _pending.Remove(envelope.Id);
        }

        SinkMetrics.Written.Add(1, new("sink", _sink), new("destination", _destination), new("consumer", envelope.Consumer));
    }

    /// <summary>A failed write stays pending: the engine retries it (a cancelled one is given up and forgotten).</summary>
    public void Failed(DeadLetterEnvelope envelope, bool cancelled)
    {
        if (cancelled)
        {
            lock (_pending)
            {
                _pending.Remove(envelope.Id);
            }

            return;
        }

        SinkMetrics.Failed.Add(1, new("sink", _sink), new("destination", _destination), new("consumer", envelope.Consumer));
    }

    public TimeSpan OldestPendingAge()
    {
        long oldest = long.MaxValue;
        lock (_pending)
        {
            foreach (long started in _pending.Values)
            {
                oldest = Math.Min(oldest, started);
            }
        }

        return oldest == long.MaxValue ? TimeSpan.Zero : _timeProvider.GetElapsedTime(oldest);
    }

    public int PendingCount
    {
        get
        {
            lock (_pending)
            {
                return _pending.Count;
            }
        }
    }

    public void Dispose() => SinkMetrics.Unregister(this);
}
