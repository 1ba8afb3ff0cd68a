using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using StreamLanes.Aws;
using StreamLanes.Checkpointing;
using StreamLanes.Sinks;
using StreamLanes.S3;

namespace StreamLanes.Sqs;

/// <summary>
/// What a received SQS message becomes for the engine: its identity, its key, its payload and attributes, and for a
/// StreamLanes dead letter moved back to the queue (SQS's own DLQ redrive) the original record the envelope holds.
/// </summary>
internal static class SqsMessageReader
{
    /// <summary>Digits of the <c>SentTimestamp</c> part of a standard message's identity (epoch milliseconds).</summary>
    private const int TimestampDigits = 13;

    /// <summary>Digits of the <c>MessageId</c> part of a standard message's identity (a 128-bit number).</summary>
    private const int MessageIdDigits = 39;

    /// <summary>
    /// A message's identity, the same in every process that receives it: for a FIFO queue SQS's
    /// <c>SequenceNumber</c> (it grows within a message group, so a key's dead letters sort in the order SQS delivered
    /// them, across restarts and consumers); for a standard queue its <c>SentTimestamp</c> (13 digits) followed by its
    /// <c>MessageId</c> read as a 128-bit number (39 digits), so that dead letters sort by send time and never collide.
    /// </summary>
    /// <param name="message">The message, received with its system attributes.</param>
    /// <param name="fifo">Whether the queue is a FIFO queue.</param>
    /// <returns>The identity, a decimal sequence number.</returns>
    public static SequenceNumber IdentityOf(SqsMessage message, bool fifo)
    {
        if (fifo && message.SequenceNumber is { Length: > 0 } sequence && sequence.All(char.IsAsciiDigit))
        {
            return new SequenceNumber(sequence);
        }

        long sent = long.TryParse(message.Attributes.GetValueOrDefault(SqsAttributeNames.SentTimestamp), NumberStyles.None, CultureInfo.InvariantCulture, out long millis)
            ? millis
            : 0;
        UInt128 id = MessageIdNumber(message.MessageId);
        return new SequenceNumber(string.Create(CultureInfo.InvariantCulture, $"{sent.ToString("D" + TimestampDigits, CultureInfo.InvariantCulture)}{id.ToString("D" + MessageIdDigits, CultureInfo.InvariantCulture)}"));
    }

    /// <summary>
    /// Whether the message is a StreamLanes dead letter (it carries the marker attribute the SQS sink sets), moved back
    /// to this queue by SQS's DLQ redrive. The body is never inspected to decide.
    /// </summary>
    public static bool IsEnvelope(SqsMessage message) => message.MessageAttributes.ContainsKey(SqsDeadLetterSink.EnvelopeAttribute);

    /// <summary>The record's key, payload, arrival time and attributes as the message itself gives them.</summary>
    public static SqsRecordContent ContentOf(SqsMessage message, SqsSourceOptions options, TimeProvider time)
    {
        var attributes = new Dictionary<string, string>(message.Attributes.Count + message.MessageAttributes.Count + 1, StringComparer.Ordinal);
        foreach ((string name, SqsMessageAttributeValue value) in message.MessageAttributes)
        {
            attributes[name] = value.StringValue ?? (value.BinaryValue is ReadOnlyMemory<byte> binary ? Convert.ToBase64String(binary.Span) : "");
        }

        attributes[SqsSource.SystemAttributePrefix + "MessageId"] = message.MessageId;
        foreach ((string name, string value) in message.Attributes)
        {
            attributes[SqsSource.SystemAttributePrefix + name] = value;
        }

        string key = options.IsFifo
            ? message.MessageGroupId ?? message.MessageId
            : options.PartitionKeyAttribute is string attribute && message.MessageAttributes.TryGetValue(attribute, out SqsMessageAttributeValue? keyValue) && keyValue.StringValue is string keyString
                ? keyString
                : message.MessageId;
        return new SqsRecordContent(key, Encoding.UTF8.GetBytes(message.Body), message.SentTimestamp ?? time.GetUtcNow(), attributes);
    }

    /// <summary>
    /// The original record a redriven envelope holds: its key, payload and attributes exactly as dead-lettered. The
    /// arrival time is the redriven message's, so <c>MaxRecordAge</c> counts from the redrive rather than dead-lettering
    /// the record again at once. A claim-checked envelope (a pointer to S3) is loaded through <paramref name="claimCheck"/>.
    /// </summary>
    /// <exception cref="SqsEnvelopeException">The envelope cannot be read, or its claim check is not configured.</exception>
    public static async Task<SqsRecordContent> EnvelopeContentAsync(SqsMessage message, S3ClaimCheck? claimCheck, TimeProvider time, CancellationToken cancellationToken)
    {
        DeadLetterEnvelope envelope;
        try
        {
            if (message.MessageAttributes.TryGetValue(SqsDeadLetterSink.ClaimCheckAttribute, out SqsMessageAttributeValue? marker) && marker.StringValue == "s3")
            {
                ClaimCheckPointer pointer = ClaimCheckPointer.FromJson(message.Body);
                if (claimCheck is null)
                {
                    throw new SqsEnvelopeException(
                        $"Message {message.MessageId} is a redriven StreamLanes dead letter stored in S3; set SqsSourceOptions.ClaimCheck to the SQS dead-letter sink's S3 claim check so that it can be loaded.",
                        permanent: true);
                }

                envelope = await claimCheck.LoadAsync(pointer, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                envelope = DeadLetterEnvelopeSerializer.Deserialize(Encoding.UTF8.GetBytes(message.Body));
            }
        }
        catch (JsonException ex)
        {
            throw new SqsEnvelopeException($"Message {message.MessageId} is marked as a StreamLanes dead letter but its body is not a readable envelope: {ex.Message}", permanent: true, ex);
        }
        catch (InvalidDataException ex)
        {
            throw new SqsEnvelopeException($"Message {message.MessageId}: {ex.Message}", permanent: true, ex);
        }
        catch (Exception ex) when (ex is not SqsEnvelopeException and not OperationCanceledException)
        {
            throw new SqsEnvelopeException($"Message {message.MessageId}: loading the redriven dead letter failed: {ex.Message}", permanent: false, ex);
        }

        return new SqsRecordContent(envelope.PartitionKey, envelope.Payload, message.SentTimestamp ?? time.GetUtcNow(), envelope.Attributes);
    }

    // A UUID (what SQS issues) read as one big-endian 128-bit number, which keeps distinct ids distinct; anything else is
    // hashed, which keeps them distinct with overwhelming probability.
    private static UInt128 MessageIdNumber(string messageId)
    {
        string hex = messageId.Replace("-", "", StringComparison.Ordinal);
        if (hex.Length == 32 && UInt128.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out UInt128 value))
        {
            return value;
        }

        return BinaryPrimitives.ReadUInt128BigEndian(SHA256.HashData(Encoding.UTF8.GetBytes(messageId)));
    }
}

/// <summary>A received message as the engine's record sees it.</summary>
internal sealed record SqsRecordContent(string PartitionKey, ReadOnlyMemory<byte> Data, DateTimeOffset ArrivalTime, IReadOnlyDictionary<string, string> Attributes);

/// <summary>A redriven StreamLanes dead letter could not be turned back into its record.</summary>
internal sealed class SqsEnvelopeException : Exception
{
    public SqsEnvelopeException(string message, bool permanent, Exception? innerException = null)
        : base(message, innerException)
    {
        Permanent = permanent;
    }

    /// <summary>Whether retrying cannot help (configuration or data), as opposed to a failed S3 read.</summary>
    public bool Permanent { get; }
}
