using System.Text;
using StreamLanes.Aws;
using StreamLanes.Checkpointing;
using StreamLanes.Sinks;

namespace StreamLanes.Engine.Tests.Sources.Sqs;

public sealed class SqsMessageReaderTests
{
    private static readonly SqsSourceOptions Fifo = new() { Queue = "orders.fifo" };
    private static readonly SqsSourceOptions Standard = new() { Queue = "orders", PartitionKeyAttribute = "tenant" };

    private static SqsMessage Message(string id, string? sequence = null, long sent = 1_767_225_600_123, string body = "{}", Dictionary<string, SqsMessageAttributeValue>? attributes = null)
    {
        var system = new Dictionary<string, string> { [SqsAttributeNames.SentTimestamp] = sent.ToString(System.Globalization.CultureInfo.InvariantCulture), [SqsAttributeNames.MessageGroupId] = "g" };
        if (sequence is not null)
        {
            system[SqsAttributeNames.SequenceNumber] = sequence;
        }

        return new SqsMessage { MessageId = id, ReceiptHandle = "r", Body = body, Attributes = system, MessageAttributes = attributes ?? [] };
    }

    [Fact]
    public void A_FIFO_message_is_identified_by_the_sequence_number_SQS_gave_it()
    {
        Assert.Equal(new SequenceNumber("18889898989898989898"), SqsMessageReader.IdentityOf(Message("a", "18889898989898989898"), fifo: true));
    }

    [Fact]
    public void A_standard_message_is_identified_by_its_send_time_then_its_message_id_as_a_number()
    {
        SequenceNumber identity = SqsMessageReader.IdentityOf(Message("00000000-0000-0000-0000-0000000000ff"), fifo: false);
        Assert.Equal("1767225600123" + 255.ToString("D39", System.Globalization.CultureInfo.InvariantCulture), identity.Value);

        // The same message has the same identity in every process; another message, sent in the same millisecond, not.
        Assert.Equal(identity, SqsMessageReader.IdentityOf(Message("00000000-0000-0000-0000-0000000000ff"), fifo: false));
        Assert.NotEqual(identity, SqsMessageReader.IdentityOf(Message("00000000-0000-0000-0000-000000000100"), fifo: false));

        // A later send sorts after, whatever the message ids.
        Assert.True(identity < SqsMessageReader.IdentityOf(Message("00000000-0000-0000-0000-000000000001", sent: 1_767_225_600_124), fifo: false));

        // Ids that are not UUIDs (other implementations) are hashed: still 52 digits, still stable.
        Assert.Equal(52, SqsMessageReader.IdentityOf(Message("not-a-uuid"), fifo: false).Value!.Length);
        Assert.Equal(SqsMessageReader.IdentityOf(Message("not-a-uuid"), fifo: false), SqsMessageReader.IdentityOf(Message("not-a-uuid"), fifo: false));
    }

    [Fact]
    public void Only_the_marker_attribute_makes_a_message_a_redriven_envelope_never_its_body()
    {
        byte[] json = DeadLetterEnvelopeSerializer.Serialize(Envelope());
        Assert.False(SqsMessageReader.IsEnvelope(Message("a", body: Encoding.UTF8.GetString(json))));
        Assert.True(SqsMessageReader.IsEnvelope(Message("a", body: "{}", attributes: Marker())));
    }

    [Fact]
    public async Task A_redriven_envelope_gives_back_the_original_key_payload_and_attributes()
    {
        DeadLetterEnvelope envelope = Envelope();
        SqsMessage message = Message("a", "5", body: Encoding.UTF8.GetString(DeadLetterEnvelopeSerializer.Serialize(envelope)), attributes: Marker());
        SqsRecordContent content = await SqsMessageReader.EnvelopeContentAsync(message, null, TimeProvider.System, CancellationToken.None);
        Assert.Equal("tenant-7", content.PartitionKey);
        Assert.Equal(envelope.Payload.ToArray(), content.Data.ToArray());
        Assert.Equal(envelope.Attributes, content.Attributes);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_767_225_600_123), content.ArrivalTime);
    }

    [Fact]
    public async Task A_marked_message_that_cannot_be_read_is_a_permanent_failure_naming_the_message()
    {
        SqsEnvelopeException notJson = await Assert.ThrowsAsync<SqsEnvelopeException>(
            () => SqsMessageReader.EnvelopeContentAsync(Message("m-1", body: "not json", attributes: Marker()), null, TimeProvider.System, CancellationToken.None));
        Assert.True(notJson.Permanent);
        Assert.Contains("m-1", notJson.Message);

        Dictionary<string, SqsMessageAttributeValue> claimChecked = Marker();
        claimChecked[SqsDeadLetterSink.ClaimCheckAttribute] = new() { DataType = "String", StringValue = "s3" };
        string pointer = "{\"streamlanesClaimCheck\":1,\"bucket\":\"b\",\"key\":\"k\",\"size\":1,\"sha256\":\"00\",\"deadLetterId\":\"x\"}";
        SqsEnvelopeException noClaimCheck = await Assert.ThrowsAsync<SqsEnvelopeException>(
            () => SqsMessageReader.EnvelopeContentAsync(Message("m-2", body: pointer, attributes: claimChecked), null, TimeProvider.System, CancellationToken.None));
        Assert.True(noClaimCheck.Permanent);
        Assert.Contains("SqsSourceOptions.ClaimCheck", noClaimCheck.Message);
    }

    [Fact]
    public void A_plain_message_keeps_its_own_key_attributes_and_body()
    {
        var attributes = new Dictionary<string, SqsMessageAttributeValue> { ["tenant"] = new() { DataType = "String", StringValue = "t-1" } };
        SqsRecordContent fifo = SqsMessageReader.ContentOf(Message("a", "5", body: "x", attributes: attributes), Fifo, TimeProvider.System);
        SqsRecordContent standard = SqsMessageReader.ContentOf(Message("a", body: "x", attributes: attributes), Standard, TimeProvider.System);
        Assert.Equal(("g", "t-1"), (fifo.PartitionKey, standard.PartitionKey));
        Assert.Equal("x", Encoding.UTF8.GetString(fifo.Data.Span));
        Assert.Equal("a", fifo.Attributes["Sqs.MessageId"]);
        Assert.Equal("5", fifo.Attributes["Sqs.SequenceNumber"]);
    }

    private static Dictionary<string, SqsMessageAttributeValue> Marker()
        => new() { [SqsDeadLetterSink.EnvelopeAttribute] = new() { DataType = "String", StringValue = "1" } };

    private static DeadLetterEnvelope Envelope() => new()
    {
        Consumer = "orders",
        SourceKind = SourceKind.Sqs,
        Stream = "orders",
        Shard = "receivers",
        SequenceNumber = "3",
        PartitionKey = "tenant-7",
        ArrivalTime = DateTimeOffset.UnixEpoch,
        Attributes = new Dictionary<string, string> { ["trace"] = "t", ["Sqs.MessageId"] = "original" },
        Payload = new byte[] { 1, 2, 3 },
        Reason = DeadLetterReason.RetriesExhausted,
        DeadLetteredAt = DateTimeOffset.UnixEpoch,
    };
}
