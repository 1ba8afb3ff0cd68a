using System.Diagnostics;
using Amazon.Runtime;
using Amazon.SQS;
using Amazon.SQS.Model;
using StreamLanes.OpenTelemetry.Tests.Support;
using StreamLanes.Sinks;
using StreamLanes.Sqs;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.OpenTelemetry.Tests.Sqs;

[CollectionDefinition(EmulatorCollections.Sqs)]
public sealed class SqsCollection : ICollectionFixture<SqsEmulatorFixture>;

/// <summary>Trace context through a real SQS queue (fauxqs): message attributes, the AWSTraceHeader system attribute, republish.</summary>
[Collection(EmulatorCollections.Sqs)]
public sealed class SqsTraceContextTests(SqsEmulatorFixture emulator) : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private const string ProducerTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    private const string ProducerSpanId = "00f067aa0ba902b7";

    private readonly AmazonSQSClient _sqs = new(
        new BasicAWSCredentials("test", "test"),
        new AmazonSQSConfig { ServiceURL = emulator.ServiceUrl.ToString(), AuthenticationRegion = EmulatorFixture.Region });

    public void Dispose() => _sqs.Dispose();

    private TracedConsumer Consumer(string queue) => TracedConsumer.Create(b => b.FromSqs(queue, options =>
    {
        options.Aws = emulator.CreateClientOptions();
        options.Receivers = 1;
        options.WaitTime = TimeSpan.FromSeconds(1);
    }));

    [Fact]
    public async Task An_sqs_message_links_to_its_traceparent_attribute_and_names_its_message_id()
    {
        string queue = EmulatorFixture.UniqueName("traced");
        string queueUrl = (await _sqs.CreateQueueAsync(queue)).QueueUrl;
        SendMessageResponse sent = await _sqs.SendMessageAsync(new SendMessageRequest
        {
            QueueUrl = queueUrl,
            MessageBody = """{"id":"o-1","secret":"SQS-PAYLOAD-SECRET"}""",
            MessageAttributes = new Dictionary<string, MessageAttributeValue>
            {
                ["traceparent"] = new() { DataType = "String", StringValue = $"00-{ProducerTraceId}-{ProducerSpanId}-01" },
                ["tracestate"] = new() { DataType = "String", StringValue = "congo=t61rcWkgMzE" },
            },
        });
        await using TracedConsumer traced = Consumer(queue);
        await traced.StartAsync();

        await Eventually.WaitUntilAsync(() => traced.Processing.Count == 1, Bound, () => $"{traced.Handler.Calls.Count} handler calls");

        Activity span = traced.Processing[0];
        Assert.Equal("aws_sqs", span.GetTagItem("messaging.system"));
        Assert.Equal(queue, span.GetTagItem("messaging.destination.name"));
        Assert.Equal(sent.MessageId, span.GetTagItem("messaging.message.id"));
        Assert.Equal("succeeded", span.GetTagItem("streamlanes.outcome"));
        ActivityLink link = Assert.Single(span.Links);
        Assert.Equal(ProducerTraceId, link.Context.TraceId.ToHexString());
        Assert.Equal(ProducerSpanId, link.Context.SpanId.ToHexString());
        Assert.Equal("congo=t61rcWkgMzE", link.Context.TraceState);
        Assert.DoesNotContain("SQS-PAYLOAD-SECRET", traced.ExportedText(), StringComparison.Ordinal);
    }

    // fauxqs 1.9.2 accepts an AWSTraceHeader system attribute on SendMessage but never returns it (checked with
    // ReceiveMessage and MessageSystemAttributeNames=All), so that path is proven on the record attribute the SQS source
    // makes of it (Sqs.AWSTraceHeader) in StreamLanesInstrumentationTests.An_xray_trace_header_is_converted_to_a_w3c_link.
    [Fact]
    public async Task A_republished_sqs_dead_letter_carries_the_publish_span_so_its_next_processing_links_back()
    {
        string queue = EmulatorFixture.UniqueName("republish");
        string queueUrl = (await _sqs.CreateQueueAsync(queue)).QueueUrl;
        await _sqs.SendMessageAsync(new SendMessageRequest { QueueUrl = queueUrl, MessageBody = """{"id":"o-2","secret":"s"}""" });
        await using TracedConsumer traced = Consumer(queue);
        await traced.StartAsync();

        await Eventually.WaitUntilAsync(() => traced.Processing.Count == 1, Bound, () => $"{traced.Handler.Calls.Count} handler calls");
        Activity first = traced.Processing[0];
        Assert.Empty(first.Links);

        // A dead letter of that processing, republished to the queue: the next processing links to the publish span,
        // which links to the processing that dead-lettered it.
        var store = new InMemoryDeadLetterSink();
        await store.WriteAsync(
            new DeadLetterEnvelope
            {
                Consumer = traced.Name,
                SourceKind = SourceKind.Sqs,
                Stream = queue,
                Shard = "receivers",
                SequenceNumber = "1",
                PartitionKey = "k",
                ArrivalTime = DateTimeOffset.UnixEpoch,
                Payload = """{"id":"o-3","secret":"s"}"""u8.ToArray(),
                Reason = DeadLetterReason.RetriesExhausted,
                DeadLetteredAt = DateTimeOffset.UnixEpoch,
                ProcessingTraceParent = $"00-{first.TraceId.ToHexString()}-{first.SpanId.ToHexString()}-01",
            },
            CancellationToken.None);
        using var republisher = new SqsDeadLetterRepublisher(emulator.CreateClientOptions());
        await new DeadLetterRedriver(store).RepublishAsync(republisher, new DeadLetterRedriveOptions());

        await Eventually.WaitUntilAsync(() => traced.Processing.Count == 2, Bound, () => $"{traced.Handler.Calls.Count} handler calls");
        Activity republished = traced.Processing.Single(s => s.SpanId != first.SpanId);
        ActivityLink toPublish = Assert.Single(republished.Links);
        Activity publish = traced.Spans.Single(s => s.OperationName == "StreamLanes.Publish");
        Assert.Equal(publish.TraceId, toPublish.Context.TraceId);
        Assert.Equal(publish.SpanId, toPublish.Context.SpanId);
        Assert.Contains(publish.Links, l => l.Context.SpanId == first.SpanId && l.Context.TraceId == first.TraceId);
    }
}
