using System.Text;
using System.Text.Json;
using StreamLanes.Sinks;

namespace StreamLanes.AspNetCore;

/// <summary>One dead letter as the detail view shows it; the payload only when the host enabled it.</summary>
internal sealed record DeadLetterDetail
{
    private const int MaxShownBytes = 64 * 1024;
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public required string Id { get; init; }
    public required string Consumer { get; init; }
    public required string SourceKind { get; init; }
    public required string Stream { get; init; }
    public required string Shard { get; init; }
    public required string SequenceNumber { get; init; }
    public required long SubSequenceNumber { get; init; }
    public required string PartitionKey { get; init; }
    public required DateTimeOffset ArrivalTime { get; init; }
    public required DateTimeOffset DeadLetteredAt { get; init; }
    public required DeadLetterReason Reason { get; init; }
    public string? ParkedBehindSequenceNumber { get; init; }
    public required IReadOnlyDictionary<string, string> Attributes { get; init; }
    public required IReadOnlyList<DeadLetterAttempt> Attempts { get; init; }
    public required int PayloadBytes { get; init; }
    public required bool PayloadShown { get; init; }
    public bool PayloadTruncated { get; init; }
    public string? PayloadText { get; init; }
    public string? PayloadJson { get; init; }
    public string? PayloadHex { get; init; }

    public static DeadLetterDetail From(DeadLetterEnvelope envelope, bool showPayload)
    {
        ReadOnlySpan<byte> payload = envelope.Payload.Span;
        ReadOnlySpan<byte> shown = payload.Length > MaxShownBytes ? payload[..MaxShownBytes] : payload;
        return new DeadLetterDetail
        {
            Id = envelope.Id,
            Consumer = envelope.Consumer,
            SourceKind = envelope.SourceKind.ToString(),
            Stream = envelope.Stream,
            Shard = envelope.Shard,
            SequenceNumber = envelope.SequenceNumber,
            SubSequenceNumber = envelope.SubSequenceNumber,
            PartitionKey = envelope.PartitionKey,
            ArrivalTime = envelope.ArrivalTime,
            DeadLetteredAt = envelope.DeadLetteredAt,
            Reason = envelope.Reason,
            ParkedBehindSequenceNumber = envelope.ParkedBehindSequenceNumber,
            Attributes = envelope.Attributes,
            Attempts = envelope.Attempts,
            PayloadBytes = payload.Length,
            PayloadShown = showPayload,
            PayloadTruncated = showPayload && payload.Length > MaxShownBytes,
            PayloadText = showPayload ? Text(shown) : null,
            PayloadJson = showPayload && payload.Length <= MaxShownBytes ? Json(payload) : null,
            PayloadHex = showPayload ? Hex(shown) : null,
        };
    }

    private static string? Text(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    private static string? Json(ReadOnlySpan<byte> bytes)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(bytes.ToArray());
            return JsonSerializer.Serialize(document.RootElement, IndentedJson);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static readonly JsonSerializerOptions IndentedJson = new() { WriteIndented = true };

    /// <summary>Offset, 16 bytes in hex, and their printable ASCII, per line.</summary>
    private static string Hex(ReadOnlySpan<byte> bytes)
    {
        var builder = new StringBuilder(bytes.Length * 4 + 16);
        for (int offset = 0; offset < bytes.Length; offset += 16)
        {
            ReadOnlySpan<byte> line = bytes.Slice(offset, Math.Min(16, bytes.Length - offset));
            builder.Append(offset.ToString("x8", System.Globalization.CultureInfo.InvariantCulture)).Append("  ");
            for (int i = 0; i < 16; i++)
            {
                builder.Append(i < line.Length ? line[i].ToString("x2", System.Globalization.CultureInfo.InvariantCulture) : "  ").Append(i == 7 ? "  " : " ");
            }

            builder.Append(' ');
            foreach (byte b in line)
            {
                builder.Append(b is >= 0x20 and < 0x7f ? (char)b : '.');
            }

            builder.Append('\n');
        }

        return builder.ToString();
    }
}
