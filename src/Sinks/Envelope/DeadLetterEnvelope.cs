using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Serialization;

namespace StreamLanes.Sinks;

/// <summary>
/// A dead-lettered record with everything needed to understand and replay it: the full payload, where it came
/// from, every failed attempt, and why it was dead-lettered. Serialized as versioned JSON
/// (<see cref="DeadLetterEnvelopeSerializer"/>); the payload is base64 in JSON.
/// </summary>
public sealed record DeadLetterEnvelope
{
    /// <summary>The envelope format version this library writes: 1.</summary>
    public const int CurrentVersion = 1;

    /// <summary>The envelope format version.</summary>
    public int Version { get; init; } = CurrentVersion;

    /// <summary>
    /// A stable identity: consumer, stream, shard, sequence and sub-sequence number. A retried write of the same
    /// dead letter has the same id, so sinks can de-duplicate.
    /// </summary>
    public string Id => $"{Consumer}/{Stream}/{Shard}/{SequenceNumber}/{SubSequenceNumber}";

    /// <summary>The consumer that dead-lettered the record.</summary>
    public required string Consumer { get; init; }

    /// <summary>The kind of source; written by name (<c>InMemory</c>, <c>Kinesis</c>, <c>DynamoDbStreams</c> or <c>Sqs</c>).</summary>
    public required SourceKind SourceKind { get; init; }

    /// <summary>The stream, table stream or queue.</summary>
    public required string Stream { get; init; }

    /// <summary>The shard id.</summary>
    public required string Shard { get; init; }

    /// <summary>The record's sequence number (decimal).</summary>
    public required string SequenceNumber { get; init; }

    /// <summary>The record's sub-sequence number inside a KPL-aggregated record; 0 otherwise.</summary>
    public long SubSequenceNumber { get; init; }

    private readonly string _partitionKey = "";
    private readonly string? _restoredPartitionKey;

    /// <summary>The record's partition key (for SQS FIFO, the message group id).</summary>
    public required string PartitionKey
    {
        get => _restoredPartitionKey ?? _partitionKey;
        init => _partitionKey = value;
    }

    /// <summary>
    /// Only for a partition key that is not valid Unicode (it holds lone surrogates, which JSON text cannot carry):
    /// the key's UTF-16 code units in base64, so it reads back exactly; <see cref="PartitionKey"/> then shows it with
    /// replacement characters in the JSON. Null otherwise.
    /// </summary>
    public string? PartitionKeyUtf16
    {
        get => IsValidUnicode(PartitionKey) ? null : Convert.ToBase64String(MemoryMarshal.AsBytes(PartitionKey.AsSpan()));
        init => _restoredPartitionKey = value is null ? null : new string(MemoryMarshal.Cast<byte, char>(Convert.FromBase64String(value)));
    }

    /// <summary>When the record reached the stream (the source's approximate arrival time).</summary>
    public required DateTimeOffset ArrivalTime { get; init; }

    /// <summary>The source's record attributes (e.g. SQS message attributes); empty when none.</summary>
    public IReadOnlyDictionary<string, string> Attributes { get; init; } = new Dictionary<string, string>();

    /// <summary>The exact payload bytes as read from the source.</summary>
    public required ReadOnlyMemory<byte> Payload { get; init; }

    /// <summary>Why the record was dead-lettered.</summary>
    [JsonConverter(typeof(JsonStringEnumConverter<DeadLetterReason>))]
    public required DeadLetterReason Reason { get; init; }

    /// <summary>
    /// For <see cref="DeadLetterReason.ParkedBehind"/>: the sequence number of the dead letter that parked the key.
    /// </summary>
    public string? ParkedBehindSequenceNumber { get; init; }

    /// <summary>Every failed attempt, oldest first; empty for records dead-lettered without an attempt.</summary>
    public IReadOnlyList<DeadLetterAttempt> Attempts { get; init; } = [];

    /// <summary>When the record was dead-lettered.</summary>
    public required DateTimeOffset DeadLetteredAt { get; init; }

    // The trace context fields are optional additions to version 1: an envelope without them (written before they
    // existed, or while nothing traced) reads as before, and a reader that does not know them ignores them.

    /// <summary>
    /// The W3C <c>traceparent</c> of the processing span that dead-lettered the record, so that a replay or a republish
    /// links back to it; null when the processing was not traced (no listener on the <c>StreamLanes</c> source).
    /// </summary>
    public string? ProcessingTraceParent { get; init; }

    /// <summary>
    /// The W3C <c>traceparent</c> of the record's producer, as the record carried it (a <c>traceparent</c> or SQS
    /// <c>AWSTraceHeader</c> attribute, or the consumer's trace-context extractor); null when it carried none.
    /// </summary>
    public string? ProducerTraceParent { get; init; }

    /// <summary>The W3C <c>tracestate</c> that came with <see cref="ProducerTraceParent"/>; null when none.</summary>
    public string? ProducerTraceState { get; init; }

    private static bool IsValidUnicode(string value)
    {
        ReadOnlySpan<char> rest = value;
        while (!rest.IsEmpty)
        {
            if (Rune.DecodeFromUtf16(rest, out _, out int consumed) != System.Buffers.OperationStatus.Done)
            {
                return false;
            }

            rest = rest[consumed..];
        }

        return true;
    }
}
