using System.Text;
using StreamLanes.Sinks;

namespace StreamLanes.Sinks.Tests.Envelope;

/// <summary>The envelope's source kind is typed in code and stays a name in JSON, so files written before still read.</summary>
public sealed class SourceKindCompatibilityTests
{
    // An envelope as this library wrote it when SourceKind was a string property.
    private static string Json(string sourceKind) =>
        "{\"version\":1,\"consumer\":\"orders\",\"sourceKind\":" + sourceKind + ",\"stream\":\"orders-stream\",\"shard\":\"shardId-000000000000\","
        + "\"sequenceNumber\":\"1\",\"subSequenceNumber\":0,\"partitionKey\":\"k\",\"arrivalTime\":\"2026-11-22T06:00:00+00:00\","
        + "\"attributes\":{},\"payload\":\"e30=\",\"reason\":\"RetriesExhausted\",\"attempts\":[],\"deadLetteredAt\":\"2026-11-22T06:00:05+00:00\"}";

    [Theory]
    [InlineData("\"InMemory\"", SourceKind.InMemory)]
    [InlineData("\"Kinesis\"", SourceKind.Kinesis)]
    [InlineData("\"DynamoDbStreams\"", SourceKind.DynamoDbStreams)]
    [InlineData("\"Sqs\"", SourceKind.Sqs)]
    [InlineData("\"sqs\"", SourceKind.Sqs)]
    [InlineData("1", SourceKind.Kinesis)]
    [InlineData("\"Kafka\"", SourceKind.InMemory)] // unknown to this version: read as the replayer always treated it
    public void Envelopes_written_with_a_string_source_kind_still_read(string written, SourceKind expected)
    {
        DeadLetterEnvelope envelope = DeadLetterEnvelopeSerializer.Deserialize(Encoding.UTF8.GetBytes(Json(written)));

        Assert.Equal(expected, envelope.SourceKind);
        Assert.Equal("k", envelope.PartitionKey);
    }

    [Fact]
    public void The_source_kind_is_written_by_name()
    {
        DeadLetterEnvelope envelope = DeadLetterEnvelopeTests.Sample() with { SourceKind = SourceKind.DynamoDbStreams };

        string json = Encoding.UTF8.GetString(DeadLetterEnvelopeSerializer.Serialize(envelope));

        Assert.Contains("\"sourceKind\":\"DynamoDbStreams\"", json, StringComparison.Ordinal);
    }

    private sealed class Recording : IDeadLetterRepublisher
    {
        public List<string> Republished { get; } = [];

        public ValueTask RepublishAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken)
        {
            Republished.Add(envelope.SequenceNumber);
            return ValueTask.CompletedTask;
        }
    }

    [Fact]
    public async Task The_source_republisher_picks_the_republisher_registered_for_the_kind_and_fails_for_others()
    {
        var kinesis = new Recording();
        var sqs = new Recording();
        var republisher = new SourceDeadLetterRepublisher(new Dictionary<SourceKind, IDeadLetterRepublisher> { [SourceKind.Kinesis] = kinesis, [SourceKind.Sqs] = sqs });

        await republisher.RepublishAsync(DeadLetterEnvelopeTests.Sample(sequence: "1") with { SourceKind = SourceKind.Kinesis }, default);
        await republisher.RepublishAsync(DeadLetterEnvelopeTests.Sample(sequence: "2") with { SourceKind = SourceKind.Sqs }, default);
        var error = await Assert.ThrowsAsync<NotSupportedException>(
            async () => await republisher.RepublishAsync(DeadLetterEnvelopeTests.Sample(sequence: "3") with { SourceKind = SourceKind.DynamoDbStreams }, default));

        Assert.Equal(["1"], kinesis.Republished);
        Assert.Equal(["2"], sqs.Republished);
        Assert.Contains("came from a DynamoDbStreams source", error.Message, StringComparison.Ordinal);
    }
}
