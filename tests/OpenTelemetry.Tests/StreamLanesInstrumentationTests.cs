using System.Diagnostics;
using OpenTelemetry.Metrics;
using StreamLanes.OpenTelemetry.Tests.Support;
using StreamLanes.Sinks;

namespace StreamLanes.OpenTelemetry.Tests;

/// <summary>What an OpenTelemetry pipeline with AddStreamLanesInstrumentation exports for an in-memory consumer.</summary>
public sealed class StreamLanesInstrumentationTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private const string ProducerTraceId = "0af7651916cd43dd8448eb211c80319c";
    private const string ProducerSpanId = "b7ad6b7169203331";
    private const string TraceParent = "00-" + ProducerTraceId + "-" + ProducerSpanId + "-01";

    private static (InMemoryStream Stream, Action<StreamConsumerBuilder> Source) NewStream()
    {
        var stream = new InMemoryStream("orders-" + Guid.NewGuid().ToString("N")[..6]);
        return (stream, b => b.FromInMemory(stream).UseInMemoryCheckpoints());
    }

    [Fact]
    public async Task A_record_gets_a_consumer_span_with_the_messaging_attributes_and_a_child_per_attempt()
    {
        (InMemoryStream stream, Action<StreamConsumerBuilder> source) = NewStream();
        await using TracedConsumer traced = TracedConsumer.Create(source);
        traced.Handler.FailuresLeft["key-retried"] = 1;
        StreamRecord first = stream.Put("key-ok", TracedConsumer.Json(new Order("o-1", "s3cr3t-one")));
        StreamRecord second = stream.Put("key-retried", TracedConsumer.Json(new Order("o-2", "s3cr3t-two")));
        await traced.StartAsync();

        await Eventually.WaitUntilAsync(() => traced.Processing.Count == 2, Bound, () => $"{traced.Processing.Count} processing spans");

        Activity ok = traced.Processing.Single(s => (string?)s.GetTagItem("streamlanes.partition_key") == "key-ok");
        Assert.Equal(ActivityKind.Consumer, ok.Kind);
        Assert.Equal("process " + stream.Name, ok.DisplayName);
        Assert.Equal(default, ok.ParentSpanId);
        Assert.Equal("streamlanes_in_memory", ok.GetTagItem("messaging.system"));
        Assert.Equal("process", ok.GetTagItem("messaging.operation.type"));
        Assert.Equal("process", ok.GetTagItem("messaging.operation.name"));
        Assert.Equal(stream.Name, ok.GetTagItem("messaging.destination.name"));
        Assert.Equal(first.ShardId, ok.GetTagItem("messaging.destination.partition.id"));
        Assert.Equal(first.SequenceNumber, ok.GetTagItem("messaging.message.id"));
        Assert.Equal(traced.Name, ok.GetTagItem("messaging.consumer.group.name"));
        Assert.Equal(first.Data.Length, ok.GetTagItem("messaging.message.body.size"));
        Assert.Equal("succeeded", ok.GetTagItem("streamlanes.outcome"));
        Assert.Equal(1, ok.GetTagItem("streamlanes.attempts"));
        Assert.Equal(ActivityStatusCode.Unset, ok.Status);

        Activity retried = traced.Processing.Single(s => (string?)s.GetTagItem("streamlanes.partition_key") == "key-retried");
        Assert.Equal(second.SequenceNumber, retried.GetTagItem("messaging.message.id"));
        Assert.Equal("retried", retried.GetTagItem("streamlanes.outcome"));
        Assert.Equal(2, retried.GetTagItem("streamlanes.attempts"));

        var attempts = traced.Attempts.Where(a => a.ParentSpanId == retried.SpanId).OrderBy(a => (int)a.GetTagItem("streamlanes.attempt")!).ToList();
        Assert.Equal([1, 2], attempts.Select(a => (int)a.GetTagItem("streamlanes.attempt")!));
        Assert.All(attempts, a => Assert.Equal(retried.TraceId, a.TraceId));
        Assert.Equal(ActivityStatusCode.Error, attempts[0].Status);
        Assert.Equal("failed", attempts[0].GetTagItem("streamlanes.attempt.outcome"));
        Assert.Equal("succeeded", attempts[1].GetTagItem("streamlanes.attempt.outcome"));
        Assert.Single(traced.Attempts, a => a.ParentSpanId == ok.SpanId);

        // The handler runs inside its attempt's span: its own spans (HTTP calls…) nest under it.
        var handlerSaw = traced.Handler.Calls.Where(c => c.Key == "key-retried").Select(c => c.Current).ToList();
        Assert.Equal(attempts.Select(a => (ActivityContext?)a.Context), handlerSaw);
    }

    [Fact]
    public async Task A_traceparent_attribute_becomes_a_link_not_a_parent()
    {
        (InMemoryStream stream, Action<StreamConsumerBuilder> source) = NewStream();
        await using TracedConsumer traced = TracedConsumer.Create(source);
        stream.Put("key-linked", TracedConsumer.Json(new Order("o-1", "s3cr3t")), new Dictionary<string, string>
        {
            ["traceparent"] = TraceParent,
            ["tracestate"] = "vendor=abc",
        });
        stream.Put("key-plain", TracedConsumer.Json(new Order("o-2", "s3cr3t")));
        await traced.StartAsync();

        await Eventually.WaitUntilAsync(() => traced.Processing.Count == 2, Bound);

        Activity linked = traced.Processing.Single(s => (string?)s.GetTagItem("streamlanes.partition_key") == "key-linked");
        ActivityLink link = Assert.Single(linked.Links);
        Assert.Equal(ProducerTraceId, link.Context.TraceId.ToHexString());
        Assert.Equal(ProducerSpanId, link.Context.SpanId.ToHexString());
        Assert.Equal("vendor=abc", link.Context.TraceState);
        Assert.NotEqual(ProducerTraceId, linked.TraceId.ToHexString());
        Assert.Equal(default, linked.ParentSpanId);

        Assert.Empty(traced.Processing.Single(s => (string?)s.GetTagItem("streamlanes.partition_key") == "key-plain").Links);
    }

    [Fact]
    public async Task An_xray_trace_header_is_converted_to_a_w3c_link()
    {
        (InMemoryStream stream, Action<StreamConsumerBuilder> source) = NewStream();
        await using TracedConsumer traced = TracedConsumer.Create(source);
        stream.Put("key-xray", TracedConsumer.Json(new Order("o-1", "s3cr3t")), new Dictionary<string, string>
        {
            ["Sqs.AWSTraceHeader"] = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        });
        stream.Put("key-bad-xray", TracedConsumer.Json(new Order("o-2", "s3cr3t")), new Dictionary<string, string>
        {
            ["Sqs.AWSTraceHeader"] = "Root=1-5759e988-ZZ862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        });
        await traced.StartAsync();

        await Eventually.WaitUntilAsync(() => traced.Processing.Count == 2, Bound);

        ActivityLink link = Assert.Single(traced.Processing.Single(s => (string?)s.GetTagItem("streamlanes.partition_key") == "key-xray").Links);
        Assert.Equal("5759e988bd862e3fe1be46a994272793", link.Context.TraceId.ToHexString());
        Assert.Equal("53995c3f42cd8ad8", link.Context.SpanId.ToHexString());
        Assert.Equal(ActivityTraceFlags.Recorded, link.Context.TraceFlags);

        // A malformed header is ignored, never a failure of the record.
        Activity bad = traced.Processing.Single(s => (string?)s.GetTagItem("streamlanes.partition_key") == "key-bad-xray");
        Assert.Empty(bad.Links);
        Assert.Equal("succeeded", bad.GetTagItem("streamlanes.outcome"));
    }

    [Fact]
    public async Task A_configured_extractor_reads_the_context_from_a_payload_envelope()
    {
        (InMemoryStream stream, Action<StreamConsumerBuilder> source) = NewStream();
        await using TracedConsumer traced = TracedConsumer.Create(source, build: b => b.ExtractTraceContext(record =>
        {
            // A producer that wraps its payloads: {"id":…,"secret":…} carries no context, so it comes from the key here.
            return record.PartitionKey == "key-enveloped" && ActivityContext.TryParse(TraceParent, null, isRemote: true, out ActivityContext context)
                ? context
                : null;
        }));
        stream.Put("key-enveloped", TracedConsumer.Json(new Order("o-1", "s3cr3t")));
        await traced.StartAsync();

        await Eventually.WaitUntilAsync(() => traced.Processing.Count == 1, Bound);

        ActivityLink link = Assert.Single(traced.Processing[0].Links);
        Assert.Equal(ProducerTraceId, link.Context.TraceId.ToHexString());
    }

    [Fact]
    public async Task A_dead_lettered_record_has_error_status_exception_events_and_its_trace_context_in_the_envelope_but_no_payload_anywhere()
    {
        (InMemoryStream stream, Action<StreamConsumerBuilder> source) = NewStream();
        await using TracedConsumer traced = TracedConsumer.Create(source);
        traced.Handler.FailuresLeft["key-poison\n\u001b[31m"] = -1;
        stream.Put("key-poison\n\u001b[31m", TracedConsumer.Json(new Order("o-9", "PAYLOAD-SECRET-4711")), new Dictionary<string, string> { ["traceparent"] = TraceParent });
        await traced.StartAsync();

        await Eventually.WaitUntilAsync(() => traced.Processing.Count == 1 && traced.Sink.Envelopes.Count == 1, Bound);

        Activity processing = traced.Processing[0];
        Assert.Equal(ActivityStatusCode.Error, processing.Status);
        Assert.Equal("dead_lettered", processing.GetTagItem("streamlanes.outcome"));
        Assert.Equal("RetriesExhausted", processing.GetTagItem("streamlanes.dead_letter.reason"));
        Assert.Equal(typeof(InvalidOperationException).FullName, processing.GetTagItem("error.type"));
        Assert.Equal(3, processing.GetTagItem("streamlanes.attempts"));

        // The key went through SafeText: no control character reaches the exported attribute.
        string key = (string)processing.GetTagItem("streamlanes.partition_key")!;
        Assert.DoesNotContain(key, c => char.IsControl(c));
        Assert.StartsWith("key-poison", key);

        var attempts = traced.Attempts.Where(a => a.ParentSpanId == processing.SpanId).ToList();
        Assert.Equal(3, attempts.Count);
        Assert.All(attempts, a =>
        {
            Assert.Equal(ActivityStatusCode.Error, a.Status);
            ActivityEvent exception = Assert.Single(a.Events);
            Assert.Equal("exception", exception.Name);
            var tags = exception.Tags.ToDictionary(t => t.Key, t => t.Value);
            Assert.Equal(typeof(InvalidOperationException).FullName, tags["exception.type"]);
            Assert.Equal("Downstream refused order o-9", tags["exception.message"]);
            Assert.False(tags.ContainsKey("exception.stacktrace"));
        });

        DeadLetterEnvelope envelope = Assert.Single(traced.Sink.Envelopes);
        Assert.Equal($"00-{processing.TraceId.ToHexString()}-{processing.SpanId.ToHexString()}-01", envelope.ProcessingTraceParent);
        Assert.Equal(TraceParent, envelope.ProducerTraceParent);

        string exported = traced.ExportedText();
        Assert.DoesNotContain("PAYLOAD-SECRET-4711", exported, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(TracedConsumer.Json(new Order("o-9", "PAYLOAD-SECRET-4711"))), exported, StringComparison.Ordinal);
        Assert.Contains("Downstream refused order o-9", exported, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_replay_links_back_to_the_processing_that_dead_lettered_the_record_and_to_its_producer()
    {
        (InMemoryStream stream, Action<StreamConsumerBuilder> source) = NewStream();
        await using TracedConsumer traced = TracedConsumer.Create(source);
        traced.Handler.FailuresLeft["key-replayed"] = 3;
        stream.Put("key-replayed", TracedConsumer.Json(new Order("o-5", "s3cr3t")), new Dictionary<string, string> { ["traceparent"] = TraceParent });
        await traced.StartAsync();
        await Eventually.WaitUntilAsync(() => traced.Sink.Envelopes.Count == 1, Bound);
        Activity original = traced.Processing.Single();

        DeadLetterRedriveReport report = await traced.Consumer.ReplayDeadLettersAsync(new DeadLetterRedriveOptions());

        Assert.Equal(1, report.Counts[DeadLetterOutcome.Replayed]);
        Assert.Empty(traced.Sink.Envelopes);
        Activity replay = traced.Processing.Single(s => s.GetTagItem("streamlanes.replay") is true);
        Assert.Equal(ActivityKind.Consumer, replay.Kind);
        Assert.Equal("succeeded", replay.GetTagItem("streamlanes.outcome"));
        Assert.Contains(replay.Links, l => l.Context.TraceId == original.TraceId && l.Context.SpanId == original.SpanId);
        Assert.Contains(replay.Links, l => l.Context.TraceId.ToHexString() == ProducerTraceId && l.Context.SpanId.ToHexString() == ProducerSpanId);
        Activity attempt = Assert.Single(traced.Attempts, a => a.ParentSpanId == replay.SpanId);
        Assert.Equal(4, attempt.GetTagItem("streamlanes.attempt"));
    }

    [Fact]
    public async Task A_republish_span_links_back_to_the_dead_lettered_processing()
    {
        (InMemoryStream stream, Action<StreamConsumerBuilder> source) = NewStream();
        await using TracedConsumer traced = TracedConsumer.Create(source);
        traced.Handler.FailuresLeft["key-republished"] = -1;
        stream.Put("key-republished", TracedConsumer.Json(new Order("o-6", "s3cr3t")));
        await traced.StartAsync();
        await Eventually.WaitUntilAsync(() => traced.Sink.Envelopes.Count == 1, Bound);
        Activity original = traced.Processing.Single();
        var target = new CapturingRepublisher();

        await new DeadLetterRedriver(traced.Sink).RepublishAsync(target, new DeadLetterRedriveOptions { Filter = new DeadLetterFilter { Consumer = traced.Name } });

        Activity publish = Assert.Single(target.Current);
        Assert.Equal(ActivityKind.Producer, publish.Kind);
        Assert.Equal("publish " + stream.Name, publish.DisplayName);
        Assert.Contains(publish.Links, l => l.Context.TraceId == original.TraceId && l.Context.SpanId == original.SpanId);
    }

    [Fact]
    public async Task The_conventions_metrics_are_published_beside_the_streamlanes_ones()
    {
        (InMemoryStream stream, Action<StreamConsumerBuilder> source) = NewStream();
        await using TracedConsumer traced = TracedConsumer.Create(source);
        traced.Handler.FailuresLeft["key-dead"] = -1;
        for (int i = 0; i < 4; i++)
        {
            stream.Put("key-" + i, TracedConsumer.Json(new Order("o-" + i, "s3cr3t")));
        }

        stream.Put("key-dead", TracedConsumer.Json(new Order("o-dead", "s3cr3t")));
        await traced.StartAsync();
        await Eventually.WaitUntilAsync(() => traced.Handler.Succeeded.Count == 4 && traced.Sink.Envelopes.Count == 1, Bound);

        IReadOnlyList<MetricPoint> consumed = traced.Points("messaging.client.consumed.messages", out Metric? consumedMetric);
        Assert.Equal("{message}", consumedMetric!.Unit);
        MetricPoint consumedPoint = Assert.Single(consumed);
        Assert.Equal(5, consumedPoint.GetSumLong());
        var consumedTags = Tags(consumedPoint);
        Assert.Equal("streamlanes_in_memory", consumedTags["messaging.system"]);
        Assert.Equal(stream.Name, consumedTags["messaging.destination.name"]);
        Assert.Equal("receive", consumedTags["messaging.operation.name"]);

        IReadOnlyList<MetricPoint> durations = traced.Points("messaging.process.duration", out Metric? durationMetric);
        Assert.Equal("s", durationMetric!.Unit);
        Assert.Equal(MetricType.Histogram, durationMetric.MetricType);
        MetricPoint succeeded = Assert.Single(durations, p => !Tags(p).ContainsKey("error.type"));
        Assert.Equal(4, succeeded.GetHistogramCount());
        Assert.Equal("process", Tags(succeeded)["messaging.operation.name"]);
        MetricPoint failed = Assert.Single(durations, p => Tags(p).ContainsKey("error.type"));
        Assert.Equal(1, failed.GetHistogramCount());
        Assert.Equal(typeof(InvalidOperationException).FullName, Tags(failed)["error.type"]);
    }

    [Fact]
    public async Task A_sampler_that_drops_everything_gets_no_span_and_the_record_is_still_handled()
    {
        (InMemoryStream stream, Action<StreamConsumerBuilder> source) = NewStream();
        await using TracedConsumer traced = TracedConsumer.Create(source, sampler: new global::OpenTelemetry.Trace.AlwaysOffSampler());
        traced.Handler.FailuresLeft["key-dead"] = -1;
        stream.Put("key-ok", TracedConsumer.Json(new Order("o-1", "s3cr3t")));
        stream.Put("key-dead", TracedConsumer.Json(new Order("o-2", "s3cr3t")));
        await traced.StartAsync();

        await Eventually.WaitUntilAsync(() => traced.Handler.Succeeded.Count == 1 && traced.Sink.Envelopes.Count == 1, Bound);

        Assert.Empty(traced.Processing);
        Assert.Empty(traced.Attempts);
        // OpenTelemetry keeps a sampled-out span for propagation only: the handler sees a context that is not recorded.
        Assert.All(traced.Handler.Calls, c => Assert.False(c.Current?.TraceFlags.HasFlag(ActivityTraceFlags.Recorded) ?? false));
        DeadLetterEnvelope envelope = Assert.Single(traced.Sink.Envelopes);
        Assert.Null(envelope.ProcessingTraceParent);
    }

    private static Dictionary<string, object?> Tags(MetricPoint point)
    {
        var tags = new Dictionary<string, object?>();
        foreach (KeyValuePair<string, object?> tag in point.Tags)
        {
            tags[tag.Key] = tag.Value;
        }

        return tags;
    }

    private sealed class CapturingRepublisher : IDeadLetterRepublisher
    {
        public List<Activity> Current { get; } = [];

        public ValueTask RepublishAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken)
        {
            Current.Add(Activity.Current!);
            return ValueTask.CompletedTask;
        }
    }
}
