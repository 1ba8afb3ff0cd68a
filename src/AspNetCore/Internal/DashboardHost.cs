using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace StreamLanes.AspNetCore;

/// <summary>
/// The state behind one mapped dashboard: the host's consumers, their throughput history (sampled on a timer), the
/// Kinesis readers' "millis behind latest" (listened to on the StreamLanes meter) and each consumer's dead-letter index.
/// </summary>
internal sealed class DashboardHost : IDisposable
{
    private readonly IServiceProvider _services;
    private readonly ConcurrentDictionary<string, DeadLetterIndex> _indexes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, History> _history = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Consumer, string Shard), long> _behind = new();
    private readonly MeterListener _listener = new();
    private readonly ITimer _sampler;
    private IReadOnlyList<IStreamConsumer>? _consumers;

    public DashboardHost(IServiceProvider services, StreamLanesDashboardOptions options, TimeProvider time)
    {
        _services = services;
        Options = options;
        Time = time;
        _listener.InstrumentPublished = static (instrument, listener) =>
        {
            if (instrument.Meter.Name == "StreamLanes" && instrument.Name == "streamlanes.source.millis_behind_latest")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>(OnBehind);
        _listener.Start();
        _sampler = time.CreateTimer(static state => ((DashboardHost)state!).Sample(), this, options.RefreshInterval, options.RefreshInterval);
    }

    public StreamLanesDashboardOptions Options { get; }

    public TimeProvider Time { get; }

    /// <summary>Every consumer the host registered with <c>AddStreamConsumer</c>, by name.</summary>
    public IReadOnlyList<IStreamConsumer> Consumers
        => _consumers ??= [.. _services.GetKeyedServices<IStreamConsumer>(KeyedService.AnyKey).DistinctBy(static c => c.Name).OrderBy(static c => c.Name, StringComparer.Ordinal)];

    public IStreamConsumer? Find(string name) => Consumers.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.Ordinal));

    public DeadLetterIndex IndexOf(IStreamConsumer consumer)
        => _indexes.GetOrAdd(consumer.Name, static (_, state) => new DeadLetterIndex(state.consumer, state.Time, state.Options.DeadLetterIndexMaxAge), (consumer, Time, Options));

    public IReadOnlyList<HistorySample> HistoryOf(string consumer)
        => _history.TryGetValue(consumer, out History? history) ? history.ToList() : [];

    public long? MillisBehindLatest(string consumer, string shard)
        => _behind.TryGetValue((consumer, shard), out long behind) ? behind : null;

    public void Dispose()
    {
        _sampler.Dispose();
        _listener.Dispose();
        foreach (DeadLetterIndex index in _indexes.Values)
        {
            index.Dispose();
        }
    }

    /// <summary>Takes one sample per consumer; the first call only records the counters the rates start from.</summary>
    internal void Sample()
    {
        try
        {
            DateTimeOffset now = Time.GetUtcNow();
            foreach (IStreamConsumer consumer in Consumers)
            {
                StreamConsumerStatus status = consumer.GetStatus();
                _history.GetOrAdd(consumer.Name, _ => new History(Options.HistorySamples)).Add(now, status);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException or Microsoft.Extensions.Options.OptionsValidationException)
        {
            // A timer callback must not throw (it would end the process): a consumer that cannot be resolved yet, or a
            // host being disposed, only costs this sample; the page reports the same failure when it asks.
        }
    }

    private void OnBehind(Instrument instrument, long measurement, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        string? consumer = null;
        string? shard = null;
        foreach (KeyValuePair<string, object?> tag in tags)
        {
            if (tag.Key == "consumer")
            {
                consumer = tag.Value as string;
            }
            else if (tag.Key == "shard")
            {
                shard = tag.Value as string;
            }
        }

        if (consumer is not null && shard is not null)
        {
            _behind[(consumer, shard)] = measurement;
        }
    }

    /// <summary>A ring of samples; rates are per second between consecutive samples.</summary>
    private sealed class History(int capacity)
    {
        private readonly Queue<HistorySample> _samples = new();
        private (DateTimeOffset At, long Handled, long Retried, long DeadLettered)? _last;

        public void Add(DateTimeOffset now, StreamConsumerStatus status)
        {
            lock (_samples)
            {
                if (_last is { } last && now > last.At)
                {
                    double seconds = (now - last.At).TotalSeconds;
                    _samples.Enqueue(new HistorySample(
                        now,
                        Math.Max(0, (status.Handled - last.Handled) / seconds),
                        Math.Max(0, (status.Retried - last.Retried) / seconds),
                        Math.Max(0, (status.DeadLettered - last.DeadLettered) / seconds)));
                    while (_samples.Count > capacity)
                    {
                        _samples.Dequeue();
                    }
                }

                _last = (now, status.Handled, status.Retried, status.DeadLettered);
            }
        }

        public List<HistorySample> ToList()
        {
            lock (_samples)
            {
                return [.. _samples];
            }
        }
    }
}

/// <summary>One point of the throughput chart.</summary>
internal sealed record HistorySample(DateTimeOffset At, double HandledPerSecond, double RetriedPerSecond, double DeadLetteredPerSecond);
