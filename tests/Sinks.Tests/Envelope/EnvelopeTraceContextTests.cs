using System.Text;
using System.Text.Json;
using StreamLanes.Sinks;

namespace StreamLanes.Sinks.Tests.Envelope;

/// <summary>The envelope's trace-context fields: optional additions to version 1, read and written compatibly.</summary>
public sealed class EnvelopeTraceContextTests
{
    private const string Processing = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    private const string Producer = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    // A version 1 envelope as earlier StreamLanes versions wrote it: no trace context fields.
    private const string WrittenBeforeTracing = """
        {"version":1,"id":"orders/s/shardId-0/7/0","consumer":"orders","sourceKind":"Kinesis","stream":"s","shard":"shardId-0",
         "sequenceNumber":"7","subSequenceNumber":0,"partitionKey":"k","arrivalTime":"2026-11-22T06:40:01+00:00","attributes":{},
         "payload":"eyJhIjoxfQ==","reason":"RetriesExhausted","attempts":[],"deadLetteredAt":"2026-11-22T06:40:07+00:00"}
        """;

    [Fact]
    public void An_envelope_written_before_the_trace_fields_existed_still_loads_without_them()
    {
        DeadLetterEnvelope envelope = DeadLetterEnvelopeSerializer.Deserialize(Encoding.UTF8.GetBytes(WrittenBeforeTracing));

        Assert.Equal("k", envelope.PartitionKey);
        Assert.Null(envelope.ProcessingTraceParent);
        Assert.Null(envelope.ProducerTraceParent);
        Assert.Null(envelope.ProducerTraceState);
    }

    [Fact]
    public void The_trace_context_round_trips_and_an_untraced_envelope_writes_no_trace_field()
    {
        DeadLetterEnvelope traced = DeadLetterEnvelopeTests.Sample() with
        {
            ProcessingTraceParent = Processing,
            ProducerTraceParent = Producer,
            ProducerTraceState = "congo=t61rcWkgMzE",
        };

        byte[] json = DeadLetterEnvelopeSerializer.Serialize(traced);
        DeadLetterEnvelope copy = DeadLetterEnvelopeSerializer.Deserialize(json);

        Assert.Equal(Processing, copy.ProcessingTraceParent);
        Assert.Equal(Producer, copy.ProducerTraceParent);
        Assert.Equal("congo=t61rcWkgMzE", copy.ProducerTraceState);
        using (JsonDocument document = JsonDocument.Parse(json))
        {
            Assert.Equal(1, document.RootElement.GetProperty("version").GetInt32());
            Assert.Equal(Processing, document.RootElement.GetProperty("processingTraceParent").GetString());
        }

        using JsonDocument untraced = JsonDocument.Parse(DeadLetterEnvelopeSerializer.Serialize(DeadLetterEnvelopeTests.Sample()));
        Assert.DoesNotContain(untraced.RootElement.EnumerateObject(), p => p.Name.Contains("trace", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void A_reader_that_does_not_know_the_trace_fields_ignores_them()
    {
        // What an earlier StreamLanes (the same version-1 contract without these properties) does with a new envelope:
        // System.Text.Json skips unknown properties, so the version stays 1 and no reader is locked out.
        byte[] json = DeadLetterEnvelopeSerializer.Serialize(DeadLetterEnvelopeTests.Sample() with { ProcessingTraceParent = Processing });
        EarlierEnvelope? earlier = JsonSerializer.Deserialize<EarlierEnvelope>(json, JsonSerializerOptions.Web);

        Assert.Equal(1, earlier!.Version);
        Assert.Equal("orders", earlier.Consumer);
    }

    private sealed record EarlierEnvelope(int Version, string Consumer, string PartitionKey);
}
