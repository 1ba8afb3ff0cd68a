using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;

namespace StreamLanes.Kinesis.EventStream;

/// <summary>
/// Decodes the <c>application/vnd.amazon.eventstream</c> framing that Kinesis <c>SubscribeToShard</c> answers with:
/// a 12-byte prelude (total length, headers length, CRC32 of those 8 bytes), the headers, the payload and a CRC32 of
/// everything before it. Both checksums are verified before anything of a message is used.
/// </summary>
internal static class EventStreamDecoder
{
    /// <summary>Total length, headers length and the prelude's CRC32.</summary>
    public const int PreludeLength = 12;

    /// <summary>The prelude plus the message CRC32: a message with no headers and no payload.</summary>
    public const int MinimumMessageLength = PreludeLength + 4;

    /// <summary>The largest message the service sends (16 MiB); anything larger is a corrupt length.</summary>
    public const int MaximumMessageLength = 16 * 1024 * 1024;

    /// <summary>The largest headers section the format allows (128 KiB).</summary>
    public const int MaximumHeadersLength = 128 * 1024;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Decodes the first message in <paramref name="buffer"/> if all of it has arrived, and slices it off the buffer.
    /// Returns <see langword="false"/> (leaving the buffer as it is) when more bytes are needed.
    /// </summary>
    /// <exception cref="EventStreamFormatException">A checksum, a length or a header is invalid.</exception>
    public static bool TryDecode(ref ReadOnlySequence<byte> buffer, out EventStreamMessage? message)
    {
        message = null;
        if (buffer.Length < PreludeLength)
        {
            return false;
        }

        Span<byte> prelude = stackalloc byte[PreludeLength];
        buffer.Slice(0, PreludeLength).CopyTo(prelude);
        uint totalLength = BinaryPrimitives.ReadUInt32BigEndian(prelude);
        uint headersLength = BinaryPrimitives.ReadUInt32BigEndian(prelude[4..]);
        uint preludeCrc = BinaryPrimitives.ReadUInt32BigEndian(prelude[8..]);
        if (Crc32.HashToUInt32(prelude[..8]) != preludeCrc)
        {
            throw new EventStreamFormatException("The event-stream prelude's CRC32 does not match: the stream is corrupt.");
        }

        if (totalLength is < MinimumMessageLength or > MaximumMessageLength)
        {
            throw new EventStreamFormatException(
                $"An event-stream message declares a total length of {totalLength} bytes; it must be {MinimumMessageLength} to {MaximumMessageLength}.");
        }

        if (headersLength > MaximumHeadersLength || headersLength > totalLength - MinimumMessageLength)
        {
            throw new EventStreamFormatException(
                $"An event-stream message declares {headersLength} bytes of headers in a message of {totalLength} bytes.");
        }

        if (buffer.Length < totalLength)
        {
            return false;
        }

        // One copy per message: the payload outlives the receive buffer, and a contiguous array keeps parsing simple.
        byte[] frame = buffer.Slice(0, totalLength).ToArray();
        uint messageCrc = BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(frame.Length - 4));
        if (Crc32.HashToUInt32(frame.AsSpan(0, frame.Length - 4)) != messageCrc)
        {
            throw new EventStreamFormatException("An event-stream message's CRC32 does not match: the stream is corrupt.");
        }

        int headersEnd = PreludeLength + (int)headersLength;
        IReadOnlyList<EventStreamHeader> headers = ReadHeaders(frame.AsSpan(PreludeLength, (int)headersLength));
        message = new EventStreamMessage(headers, frame.AsMemory(headersEnd, frame.Length - 4 - headersEnd));
        buffer = buffer.Slice(totalLength);
        return true;
    }

    private static List<EventStreamHeader> ReadHeaders(ReadOnlySpan<byte> span)
    {
        var headers = new List<EventStreamHeader>(4);
        while (!span.IsEmpty)
        {
            // Header names and values come from the network: error messages name a header by position only.
            int position = headers.Count + 1;
            int nameLength = span[0];
            string headerName = DecodeUtf8(Take(ref span, 1, nameLength, position)[1..], position);
            var type = (EventStreamHeaderType)Take(ref span, 0, 1, position)[0];
            object value = type switch
            {
                EventStreamHeaderType.BoolTrue => true,
                EventStreamHeaderType.BoolFalse => false,
                EventStreamHeaderType.Byte => (sbyte)Take(ref span, 0, 1, position)[0],
                EventStreamHeaderType.Short => BinaryPrimitives.ReadInt16BigEndian(Take(ref span, 0, 2, position)),
                EventStreamHeaderType.Integer => BinaryPrimitives.ReadInt32BigEndian(Take(ref span, 0, 4, position)),
                EventStreamHeaderType.Long => BinaryPrimitives.ReadInt64BigEndian(Take(ref span, 0, 8, position)),
                EventStreamHeaderType.ByteArray => TakeSized(ref span, position).ToArray(),
                EventStreamHeaderType.String => DecodeUtf8(TakeSized(ref span, position), position),
                EventStreamHeaderType.Timestamp => DateTimeOffset.FromUnixTimeMilliseconds(
                    BinaryPrimitives.ReadInt64BigEndian(Take(ref span, 0, 8, position))),
                EventStreamHeaderType.Uuid => new Guid(Take(ref span, 0, 16, position), bigEndian: true),
                _ => throw new EventStreamFormatException($"Event-stream header #{position} has the unknown type {(byte)type}."),
            };
            headers.Add(new EventStreamHeader(headerName, type, value));
        }

        return headers;
    }

    /// <summary>Takes <paramref name="prefix"/> + <paramref name="length"/> bytes off the front of the span.</summary>
    private static ReadOnlySpan<byte> Take(ref ReadOnlySpan<byte> span, int prefix, int length, int what)
    {
        if (span.Length < prefix + length)
        {
            throw new EventStreamFormatException($"Event-stream header #{what} runs past the end of the headers section.");
        }

        ReadOnlySpan<byte> taken = span[..(prefix + length)];
        span = span[(prefix + length)..];
        return taken;
    }

    /// <summary>Takes a value preceded by its 2-byte big-endian length.</summary>
    private static ReadOnlySpan<byte> TakeSized(ref ReadOnlySpan<byte> span, int what)
    {
        if (span.Length < 2)
        {
            throw new EventStreamFormatException($"Event-stream header #{what} runs past the end of the headers section.");
        }

        int length = BinaryPrimitives.ReadUInt16BigEndian(span);
        return Take(ref span, 2, length, what)[2..];
    }

    private static string DecodeUtf8(ReadOnlySpan<byte> bytes, int what)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException ex)
        {
            throw new EventStreamFormatException($"Event-stream header #{what} is not valid UTF-8.", ex);
        }
    }
}
