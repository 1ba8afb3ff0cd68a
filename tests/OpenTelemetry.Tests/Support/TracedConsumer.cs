using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using StreamLanes.Sinks;

namespace StreamLanes.OpenTelemetry.Tests.Support;

/// <summary>An order whose <see cref="Secret"/> must never reach a span, an event or a metric.</summary>
public sealed record Order(string Id, string Secret);

/// <summary>Fails the keys it is told to (a number of times or for ever) and records the span current in each call.</summary>
public sealed class TracingHandler : IStreamHandler<Order>
{
    public ConcurrentDictionary<string, int> FailuresLeft { get; } = new();

    public ConcurrentQueue<(string Key, int Attempt, ActivityContext? Current, string? CurrentOperation)> Calls { get; } = new();

    public ConcurrentQueue<string> Succeeded { get; } = new();

    public ValueTask HandleAsync(Order message, HandlerContext context)
    {
        Activity? current = Activity.Current;
        Calls.Enqueue((context.Record.PartitionKey, context.Attempt, current?.Context, current?.OperationName));
        string key = context.Record.PartitionKey;
        if (FailuresLeft.TryGetValue(key, out int left) && left != 0)
        {
            FailuresLeft[key] = left - 1;
            throw new InvalidOperationException($"Downstream refused order {message.Id}");
        }

        Succeeded.Enqueue(message.Id);
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// A host with one consumer and an OpenTelemetry SDK pipeline (AddStreamLanesInstrumentation + in-memory exporters)
/// that keeps only this consumer's telemetry: tests in other classes run in parallel on the same activity source.
/// </summary>
public sealed class TracedConsumer : IAsyncDisposable
{
    private readonly TracerProvider _tracer;
    private readonly MeterProvider _meter;
    private readonly List<Activity> _spansSource;
    private readonly List<Metric> _metricsSource;

    private TracedConsumer(IHost host, TracingHandler handler, InMemoryDeadLetterSink sink, string name, TracerProvider tracer, MeterProvider meter, List<Activity> spans, List<Metric> metrics)
    {
        _spansSource = spans;
        _metricsSource = metrics;
        Host = host;
        Handler = handler;
        Sink = sink;
        Name = name;
        _tracer = tracer;
        _meter = meter;
    }

    public IHost Host { get; }

    public TracingHandler Handler { get; }

    public InMemoryDeadLetterSink Sink { get; }

    public string Name { get; }

    public IStreamConsumer Consumer => Host.Services.GetRequiredKeyedService<IStreamConsumer>(Name);

    public static TracedConsumer Create(
        Action<StreamConsumerBuilder> source,
        Action<StreamConsumerOptions>? configure = null,
        Action<StreamConsumerBuilder>? build = null,
        Sampler? sampler = null)
    {
        string name = "otel-" + Guid.NewGuid().ToString("N")[..8];
        var handler = new TracingHandler();
        var sink = new InMemoryDeadLetterSink();
        var spans = new List<Activity>();
        var metrics = new List<Metric>();
        TracerProvider tracer = Sdk.CreateTracerProviderBuilder()
            .AddStreamLanesInstrumentation()
            .SetSampler(sampler ?? new AlwaysOnSampler())
            .AddInMemoryExporter(spans)
            .Build()!;
        MeterProvider meter = Sdk.CreateMeterProviderBuilder()
            .AddStreamLanesInstrumentation()
            .AddInMemoryExporter(metrics)
            .Build()!;

        HostApplicationBuilder builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(handler);
        StreamConsumerBuilder consumer = builder.Services
            .AddStreamConsumer<TracingHandler>(name, options =>
            {
                options.CheckpointInterval = TimeSpan.FromMilliseconds(50);
                options.Retry.InitialDelay = TimeSpan.FromMilliseconds(5);
                options.Retry.MaxDelay = TimeSpan.FromMilliseconds(20);
                options.MaxAttempts = 3;
                options.DrainTimeout = TimeSpan.FromSeconds(10);
                configure?.Invoke(options);
            })
            .UseDeadLetterSink(sink);
        source(consumer);
        build?.Invoke(consumer);
        return new TracedConsumer(builder.Build(), handler, sink, name, tracer, meter, spans, metrics);
    }

    /// <summary>This consumer's spans exported so far (processing and attempts; publish spans of its dead letters).</summary>
    public IReadOnlyList<Activity> Spans
    {
        get
        {
            lock (_spansSource)
            {
                return [.. _spansSource.Where(a => Mine(a))];
            }
        }
    }

    private bool Mine(Activity span)
    {
        if (span.GetTagItem("messaging.consumer.group.name") is string consumer)
        {
            return consumer == Name;
        }

        // An attempt span carries no consumer: it belongs to a processing span of ours.
        lock (_spansSource)
        {
            return _spansSource.Any(p => p.SpanId == span.ParentSpanId && (string?)p.GetTagItem("messaging.consumer.group.name") == Name);
        }
    }

    public IReadOnlyList<Activity> Processing => [.. Spans.Where(s => s.OperationName == "StreamLanes.Process")];

    public IReadOnlyList<Activity> Attempts => [.. Spans.Where(s => s.OperationName == "StreamLanes.Attempt")];

    /// <summary>Collects the metrics now and returns this consumer's points of <paramref name="name"/>.</summary>
    public IReadOnlyList<MetricPoint> Points(string name, out Metric? metric)
    {
        _meter.ForceFlush();
        metric = null;
        var points = new List<MetricPoint>();
        foreach (Metric m in _metricsSource.Where(m => m.Name == name))
        {
            metric = m;
            foreach (ref readonly MetricPoint point in m.GetMetricPoints())
            {
                foreach (KeyValuePair<string, object?> tag in point.Tags)
                {
                    if (tag.Key == "messaging.consumer.group.name" && (string?)tag.Value == Name)
                    {
                        points.Add(point);
                    }
                }
            }
        }

        _metricsSource.Clear();
        return points;
    }

    /// <summary>Every string the exporters received for this consumer, to search for payload text.</summary>
    public string ExportedText()
    {
        var text = new System.Text.StringBuilder();
        foreach (Activity span in Spans)
        {
            text.Append(span.DisplayName).Append(span.OperationName).Append(span.StatusDescription);
            foreach (KeyValuePair<string, object?> tag in span.TagObjects)
            {
                text.Append(tag.Key).Append('=').Append(tag.Value).Append('\n');
            }

            foreach (ActivityEvent e in span.Events)
            {
                text.Append(e.Name);
                foreach (KeyValuePair<string, object?> tag in e.Tags)
                {
                    text.Append(tag.Key).Append('=').Append(tag.Value).Append('\n');
                }
            }

            foreach (ActivityLink link in span.Links)
            {
                text.Append(link.Context.TraceId).Append(link.Context.TraceState);
                foreach (KeyValuePair<string, object?> tag in link.Tags ?? [])
                {
                    text.Append(tag.Key).Append('=').Append(tag.Value).Append('\n');
                }
            }

            foreach (KeyValuePair<string, string?> baggage in span.Baggage)
            {
                text.Append(baggage.Key).Append(baggage.Value);
            }
        }

        _meter.ForceFlush();
        foreach (Metric metric in _metricsSource)
        {
            text.Append(metric.Name).Append(metric.Description);
            foreach (ref readonly MetricPoint point in metric.GetMetricPoints())
            {
                foreach (KeyValuePair<string, object?> tag in point.Tags)
                {
                    text.Append(tag.Key).Append('=').Append(tag.Value).Append('\n');
                }
            }
        }

        return text.ToString();
    }

    public static byte[] Json(Order order) => JsonSerializer.SerializeToUtf8Bytes(order, JsonSerializerOptions.Web);

    private bool _started;

    public async Task StartAsync()
    {
        await Host.StartAsync();
        _started = true;
    }

    public async ValueTask DisposeAsync()
    {
        // A host whose start failed cannot be stopped; the start's exception is the one the test reports.
        if (_started)
        {
            await Host.StopAsync();
        }

        Host.Dispose();
        _tracer.Dispose();
        _meter.Dispose();
    }
}

/// <summary>Waits for a condition the consumer reaches on its own time, failing with what it saw.</summary>
public static class Eventually
{
    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, Func<string>? describe = null)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > timeout)
            {
                throw new TimeoutException($"Condition not reached within {timeout}. {describe?.Invoke()}");
            }

            await Task.Delay(20);
        }
    }
}
