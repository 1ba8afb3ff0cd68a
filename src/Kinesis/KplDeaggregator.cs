using System.Security.Cryptography;

namespace StreamLanes.Kinesis;

/// <summary>
/// Splits a record written by the Kinesis Producer Library in aggregated form into its user records.
/// </summary>
/// <remarks>
/// The format: the magic bytes <c>F3 89 9A C2</c>, a protobuf <c>AggregatedRecord</c>
/// (<c>repeated string partition_key_table = 1; repeated string explicit_hash_key_table = 2;
/// repeated Record records = 3</c>, where <c>Record</c> is <c>uint64 partition_key_index = 1;
/// uint64 explicit_hash_key_index = 2; bytes data = 3; repeated Tag tags = 4</c>), then the MD5 of the protobuf
/// bytes. A record that does not match (no magic, a bad digest, a malformed message) is an ordinary record and is
/// passed on whole, as the KCL does.
/// </remarks>
internal static class KplDeaggregator
{
    private static ReadOnlySpan<byte> Magic => [0xF3, 0x89, 0x9A, 0xC2];

    private const int DigestLength = 16;

    /// <summary>A user record inside an aggregate.</summary>
    public readonly record struct UserRecord(string PartitionKey, string? ExplicitHashKey, ReadOnlyMemory<byte> Data);

    /// <summary>Returns the user records of an aggregated record, or <see langword="null"/> when it is not one.</summary>
    public static IReadOnlyList<UserRecord>? TryDeaggregate(ReadOnlyMemory<byte> data)
    {
        ReadOnlySpan<byte> span = data.Span;
        if (span.Length < Magic.Length + DigestLength || !span.StartsWith(Magic))
        {
            return null;
        }

        ReadOnlyMemory<byte> message = data[Magic.Length..^DigestLength];
        Span<byte> digest = stackalloc byte[DigestLength];
#pragma warning disable CA5351 // MD5 is the KPL format's integrity check, not a security measure.
        MD5.HashData(message.Span, digest);
#pragma warning restore CA5351
        if (!digest.SequenceEqual(span[^DigestLength..]))
        {
            return null;
        }

        try
        {
            return Parse(message);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static List<UserRecord> Parse(ReadOnlyMemory<byte> message)
    {
        var keys = new List<string>();
        var hashKeys = new List<string>();
        var records = new List<(ulong Key, ulong? HashKey, ReadOnlyMemory<byte> Data)>();
        var reader = new ProtobufReader(message);
        while (reader.TryReadTag(out int field, out int wireType))
        {
            switch (field, wireType)
            {
                case (1, 2):
                    keys.Add(System.Text.Encoding.UTF8.GetString(reader.ReadBytes().Span));
                    break;
                case (2, 2):
                    hashKeys.Add(System.Text.Encoding.UTF8.GetString(reader.ReadBytes().Span));
                    break;
                case (3, 2):
                    records.Add(ParseRecord(reader.ReadBytes()));
                    break;
                default:
                    reader.Skip(wireType);
                    break;
            }
        }

        var result = new List<UserRecord>(records.Count);
        foreach ((ulong key, ulong? hashKey, ReadOnlyMemory<byte> data) in records)
        {
            if (key >= (ulong)keys.Count || (hashKey is ulong h && h >= (ulong)hashKeys.Count))
            {
                throw new FormatException("A KPL user record points outside the partition key table.");
            }

            result.Add(new UserRecord(keys[(int)key], hashKey is ulong index ? hashKeys[(int)index] : null, data));
        }

        return result;
    }

    private static (ulong Key, ulong? HashKey, ReadOnlyMemory<byte> Data) ParseRecord(ReadOnlyMemory<byte> bytes)
    {
        var reader = new ProtobufReader(bytes);
        ulong key = 0;
        ulong? hashKey = null;
        ReadOnlyMemory<byte> data = ReadOnlyMemory<byte>.Empty;
        while (reader.TryReadTag(out int field, out int wireType))
        {
            switch (field, wireType)
            {
                case (1, 0):
                    key = reader.ReadVarint();
                    break;
                case (2, 0):
                    hashKey = reader.ReadVarint();
                    break;
                case (3, 2):
                    data = reader.ReadBytes();
                    break;
                default:
                    reader.Skip(wireType);
                    break;
            }
        }

        return (key, hashKey, data);
    }

    /// <summary>Just enough of the protobuf wire format for the KPL's messages.</summary>
    private struct ProtobufReader(ReadOnlyMemory<byte> buffer)
    {
        private int _position;

        public bool TryReadTag(out int field, out int wireType)
        {
            if (_position >= buffer.Length)
            {
                field = wireType = 0;
                return false;
            }

            ulong tag = ReadVarint();
            field = (int)(tag >> 3);
            wireType = (int)(tag & 7);
            if (field == 0)
            {
                throw new FormatException("Protobuf field 0 is invalid.");
            }

            return true;
        }

        public ulong ReadVarint()
        {
            ulong value = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                if (_position >= buffer.Length)
                {
                    throw new FormatException("Truncated protobuf varint.");
                }

                byte b = buffer.Span[_position++];
                value |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    return value;
                }
            }

            throw new FormatException("Protobuf varint too long.");
        }

        public ReadOnlyMemory<byte> ReadBytes()
        {
            ulong length = ReadVarint();
            if (length > (ulong)(buffer.Length - _position))
            {
                throw new FormatException("Protobuf length runs past the end of the message.");
            }

            ReadOnlyMemory<byte> bytes = buffer.Slice(_position, (int)length);
            _position += (int)length;
            return bytes;
        }

        public void Skip(int wireType)
        {
            switch (wireType)
            {
                case 0:
                    ReadVarint();
                    break;
                case 1:
                    Advance(8);
                    break;
                case 2:
                    ReadBytes();
                    break;
                case 5:
                    Advance(4);
                    break;
                default:
                    throw new FormatException($"Unsupported protobuf wire type {wireType}.");
            }
        }

        private void Advance(int count)
        {
            if (count > buffer.Length - _position)
            {
                throw new FormatException("Truncated protobuf field.");
            }

            _position += count;
        }
    }
}
