using System.Text;

namespace StreamLanes.Sinks.Tests.Aws;

/// <summary>
/// SQS dead letters written before records had their own identity (the sequence number was a per-process counter)
/// stay readable, keep their ids and DynamoDB keys, and sort before the ones written since.
/// </summary>
public sealed class SqsIdentityCompatibilityTests
{
    private const string OldEnvelope =
        "{\"version\":1,\"id\":\"orders/payments.fifo/receivers/7/0\",\"consumer\":\"orders\",\"sourceKind\":\"Sqs\",\"stream\":\"payments.fifo\",\"shard\":\"receivers\",\"sequenceNumber\":\"7\",\"subSequenceNumber\":0,\"partitionKey\":\"k\",\"arrivalTime\":\"2026-11-01T00:00:00+00:00\",\"attributes\":{\"Sqs.MessageId\":\"6c808a3c-8819-4371-8b38-f8f58a000d5a\"},\"payload\":\"e30=\",\"reason\":\"RetriesExhausted\",\"attempts\":[],\"deadLetteredAt\":\"2026-11-01T00:00:01+00:00\"}";

    [Fact]
    public void An_envelope_with_a_counter_sequence_number_reads_back_with_its_id()
    {
        DeadLetterEnvelope old = DeadLetterEnvelopeSerializer.Deserialize(Encoding.UTF8.GetBytes(OldEnvelope));
        Assert.Equal("orders/payments.fifo/receivers/7/0", old.Id);
        Assert.Equal("6c808a3c-8819-4371-8b38-f8f58a000d5a", old.Attributes["Sqs.MessageId"]);
    }

    [Theory]
    [InlineData("18849496460467696128")] // a FIFO SequenceNumber as SQS issues them (20 digits)
    [InlineData("1767225600123000000000000000000000000000000000000255")] // a standard message: SentTimestamp + MessageId
    public void Old_dead_letters_sort_before_new_ones_in_the_DynamoDB_sink_and_new_ones_keep_distinct_keys(string identity)
    {
        DeadLetterEnvelope old = DeadLetterEnvelopeSerializer.Deserialize(Encoding.UTF8.GetBytes(OldEnvelope));
        DeadLetterEnvelope current = old with { SequenceNumber = identity };
        DeadLetterEnvelope next = old with { SequenceNumber = (System.Numerics.BigInteger.Parse(identity, System.Globalization.CultureInfo.InvariantCulture) + 1).ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(identity.Length, '0') };
        string[] keys = [DynamoDbDeadLetterSink.SortValue(old), DynamoDbDeadLetterSink.SortValue(current), DynamoDbDeadLetterSink.SortValue(next)];
        Assert.Equal(keys, keys.Order(StringComparer.Ordinal));
        Assert.Equal(3, keys.Distinct().Count());
    }
}
