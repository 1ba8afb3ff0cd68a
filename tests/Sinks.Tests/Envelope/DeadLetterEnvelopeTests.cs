using System.Text;
using System.Text.Json;
using StreamLanes.Sinks;

namespace StreamLanes.Sinks.Tests.Envelope;

public sealed class DeadLetterEnvelopeTests
{
    public static DeadLetterEnvelope Sample(byte[]? payload = null, string key = "customer-42", string sequence = "49590338271490256608559692538361571095921575989136588898") => new()
    {
        Consumer = "orders",
        SourceKind = SourceKind.Kinesis,
        Stream = "orders-stream",
        Shard = "shardId-000000000003",
        SequenceNumber = sequence,
        SubSequenceNumber = 2,
        PartitionKey = key,
        ArrivalTime = new DateTimeOffset(2026, 11, 22, 6, 0, 0, TimeSpan.Zero),
        Attributes = new Dictionary<string, string> { ["trace"] = "abc" },
        Payload = payload ?? [0, 1, 2, 0xFF, 0xFE, (byte)'{'],
        Reason = DeadLetterReason.RetriesExhausted,
        Attempts =
        [
            DeadLetterAttempt.FromException(1, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddMilliseconds(3), new TimeoutException("downstream timed out")),
            DeadLetterAttempt.FromException(2, DateTimeOffset.UnixEpoch.AddSeconds(1), DateTimeOffset.UnixEpoch.AddSeconds(2), new InvalidOperationException("still down")),
        ],
        DeadLetteredAt = new DateTimeOffset(2026, 11, 22, 6, 0, 5, TimeSpan.Zero),
    };

    [Fact]
    public void Round_trips_every_field_and_the_exact_payload_bytes()
    {
        DeadLetterEnvelope original = Sample();
        DeadLetterEnvelope copy = DeadLetterEnvelopeSerializer.Deserialize(DeadLetterEnvelopeSerializer.Serialize(original));

        Assert.Equal(original.Payload.ToArray(), copy.Payload.ToArray());
        Assert.Equal(original.Id, copy.Id);
        Assert.Equal(original.PartitionKey, copy.PartitionKey);
        Assert.Equal(original.SequenceNumber, copy.SequenceNumber);
        Assert.Equal(original.SubSequenceNumber, copy.SubSequenceNumber);
        Assert.Equal(original.Shard, copy.Shard);
        Assert.Equal(original.Reason, copy.Reason);
        Assert.Equal(original.ArrivalTime, copy.ArrivalTime);
        Assert.Equal(original.DeadLetteredAt, copy.DeadLetteredAt);
        Assert.Equal("abc", copy.Attributes["trace"]);
        Assert.Equal(2, copy.Attempts.Count);
        Assert.Equal(typeof(TimeoutException).FullName, copy.Attempts[0].ExceptionType);
        Assert.Equal("still down", copy.Attempts[1].Message);
        Assert.Contains("InvalidOperationException", copy.Attempts[1].StackTrace);
    }

    [Fact]
    public void Json_is_versioned_camel_case_with_a_base64_payload_and_a_named_reason()
    {
        using JsonDocument json = JsonDocument.Parse(DeadLetterEnvelopeSerializer.Serialize(Sample()));
        JsonElement root = json.RootElement;
        Assert.Equal(1, root.GetProperty("version").GetInt32());
        Assert.Equal(Convert.ToBase64String(new byte[] { 0, 1, 2, 0xFF, 0xFE, (byte)'{' }), root.GetProperty("payload").GetString());
        Assert.Equal("RetriesExhausted", root.GetProperty("reason").GetString());
        Assert.Equal("customer-42", root.GetProperty("partitionKey").GetString());
        Assert.Equal(2, root.GetProperty("attempts").GetArrayLength());
        Assert.False(root.TryGetProperty("parkedBehindSequenceNumber", out _));
    }

    [Fact]
    public void A_newer_version_is_refused_with_a_clear_message()
    {
        string json = Encoding.UTF8.GetString(DeadLetterEnvelopeSerializer.Serialize(Sample())).Replace("\"version\":1", "\"version\":9");
        JsonException error = Assert.Throws<JsonException>(() => DeadLetterEnvelopeSerializer.Deserialize(Encoding.UTF8.GetBytes(json)));
        Assert.Contains("version 9", error.Message);
    }

    [Fact]
    public void Long_stack_traces_are_trimmed()
    {
        var exception = new InvalidOperationException(new string('x', 10_000));
        DeadLetterAttempt attempt = DeadLetterAttempt.FromException(1, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, exception);
        Assert.True(attempt.StackTrace!.Length <= DeadLetterAttempt.MaxStackTraceLength + 1);
        Assert.Equal(10_000, attempt.Message.Length);
    }
}
