using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace StreamLanes.Checkpointing;

/// <summary>
/// The binary form of a <see cref="ShardKeyState"/>: compact (a lane costs its 8-byte hash plus its position as the
/// distance from the checkpoint, about 20 to 23 bytes with Kinesis sequence numbers), versioned, and read back strictly: anything the encoder
/// never writes is refused.
/// </summary>
/// <remarks>
/// Layout: version byte; flags (1: custom lane key, 2: incomplete set present); the checkpoint; when the set is
/// present, the furthest position read, the lane count and each lane (hash, little endian; distance from the
/// checkpoint; sub-sequence number); the parked-key count and each parked key (key, position, dead-letter id).
/// Positions are a tag (0 none, 1 <c>SHARD_END</c>, 2 a sequence number, 3 one written with leading zeros, then their
/// count) then the number as unsigned big-endian bytes with a length prefix, then the sub-sequence number; integers and lengths are LEB128 varints; strings UTF-8.
/// </remarks>
internal static class ShardKeyStateCodec
{
    private const byte FlagCustomLaneKey = 1;
    private const byte FlagIncompleteSet = 2;
    private const int MaxStringBytes = 64 * 1024;

    /// <summary>
    /// The most bytes a shard's encoded key state may take. The incomplete set is bounded by <c>MaxKeyStateBytes</c>
    /// (at most 64 KiB) and dropped above it, but parked keys cannot be dropped: a key left out would be forgotten by
    /// whoever resumes the shard. This bound keeps the state well under DynamoDB's 400 KB item limit (the lease item's
    /// KCL attributes and the checkpoint table's own take well under 1 KB), so that the write fails here, clearly,
    /// rather than in DynamoDB at every checkpoint; the engine then holds the checkpoint instead of saving a partial set.
    /// </summary>
    public const int MaxEncodedBytes = 256 * 1024;

    /// <summary>
    /// Encodes <paramref name="state"/>; when the whole encoding is longer than <paramref name="maxBytes"/>, encodes it
    /// without the incomplete set (correct: the records past the checkpoint are then simply read again).
    /// </summary>
    /// <returns>The encoding, and whether the incomplete set had to be left out.</returns>
    public static (byte[] Bytes, bool IncompleteSetDropped) Encode(ShardKeyState state, int maxBytes)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.HasIncompleteSet && maxBytes > 0)
        {
            // Lower bound of a lane's size (hash, one length byte, one sub-sequence byte): spares encoding thousands
            // of lanes only to throw the result away.
            if (state.IncompleteLanes.Count * 10 <= maxBytes)
            {
                byte[] full = Write(state, includeIncompleteSet: true);
                if (full.Length <= maxBytes)
                {
                    return (full, false);
                }
            }

            return (Write(state, includeIncompleteSet: false), true);
        }

        return (Write(state, includeIncompleteSet: false), false);
    }

    /// <summary>Decodes an encoding written by <see cref="Encode"/>.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a key state this version can read; the message says why.</exception>
    public static ShardKeyState Decode(ReadOnlySpan<byte> bytes)
    {
        var reader = new Reader(bytes);
        byte version = reader.Byte();
        if (version != ShardKeyState.CurrentVersion)
        {
            throw new InvalidDataException($"key state version {version} is not one this StreamLanes reads (version {ShardKeyState.CurrentVersion}).");
        }

        byte flags = reader.Byte();
        if ((flags & ~(FlagCustomLaneKey | FlagIncompleteSet)) != 0)
        {
            throw new InvalidDataException($"key state flags {flags} are unknown.");
        }

        SequenceNumber checkpoint = reader.Position();
        SequenceNumber furthest = SequenceNumber.None;
        IncompleteLane[] lanes = [];
        if ((flags & FlagIncompleteSet) != 0)
        {
            furthest = reader.Position();
            BigInteger baseValue = checkpoint.IsNone || checkpoint.IsShardEnd ? BigInteger.Zero : BigInteger.Parse(checkpoint.Value, CultureInfo.InvariantCulture);
            lanes = new IncompleteLane[reader.Count(minBytesEach: 10)];
            for (int i = 0; i < lanes.Length; i++)
            {
                ulong hash = reader.UInt64();
                BigInteger value = baseValue + reader.Unsigned();
                long sub = reader.SubSequence();
                var position = new SequenceNumber(value.ToString(CultureInfo.InvariantCulture), sub);
                if (position.CompareTo(checkpoint) <= 0 || position.CompareTo(furthest) > 0)
                {
                    throw new InvalidDataException($"key state lane {i} starts at {position}, outside the range from checkpoint {checkpoint} to furthest read {furthest}.");
                }

                lanes[i] = new IncompleteLane(hash, position);
            }
        }

        var parked = new ParkedKeyState[reader.Count(minBytesEach: 4)];
        for (int i = 0; i < parked.Length; i++)
        {
            string key = reader.String();
            SequenceNumber position = reader.Position();
            string id = reader.String();
            parked[i] = new ParkedKeyState(key, position, id);
        }

        reader.End();
        return new ShardKeyState
        {
            Checkpoint = checkpoint,
            FurthestRead = furthest,
            CustomLaneKey = (flags & FlagCustomLaneKey) != 0,
            IncompleteLanes = lanes,
            ParkedKeys = parked,
        };
    }

    private static byte[] Write(ShardKeyState state, bool includeIncompleteSet)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        bool set = includeIncompleteSet && state.HasIncompleteSet;
        buffer.Write([ShardKeyState.CurrentVersion, (byte)((state.CustomLaneKey ? FlagCustomLaneKey : 0) | (set ? FlagIncompleteSet : 0))]);
        WritePosition(buffer, state.Checkpoint);
        if (set)
        {
            WritePosition(buffer, state.FurthestRead);
            BigInteger baseValue = state.Checkpoint.IsNone ? BigInteger.Zero : BigInteger.Parse(state.Checkpoint.Value!, CultureInfo.InvariantCulture);
            WriteVarint(buffer, (ulong)state.IncompleteLanes.Count);
            foreach (IncompleteLane lane in state.IncompleteLanes)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(buffer.GetSpan(8), lane.KeyHash);
                buffer.Advance(8);
                WriteUnsigned(buffer, BigInteger.Parse(lane.FirstIncomplete.Value!, CultureInfo.InvariantCulture) - baseValue);
                WriteVarint(buffer, (ulong)lane.FirstIncomplete.SubSequence);
            }
        }

        WriteVarint(buffer, (ulong)state.ParkedKeys.Count);
        foreach (ParkedKeyState parked in state.ParkedKeys)
        {
            WriteString(buffer, parked.Key);
            WritePosition(buffer, parked.Position);
            WriteString(buffer, parked.DeadLetterId);
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WritePosition(ArrayBufferWriter<byte> buffer, SequenceNumber position)
    {
        if (position.IsNone)
        {
            buffer.Write([(byte)0]);
            return;
        }

        if (position.IsShardEnd)
        {
            buffer.Write([(byte)1]);
            return;
        }

        // Leading zeros are kept: a position is also an identity (an SQS FIFO sequence number is zero-padded to 20
        // digits), shown and compared as text in dead letters.
        int zeros = position.Value.Length - position.Value.TrimStart('0').Length;
        zeros = Math.Min(zeros, position.Value.Length - 1);
        if (zeros == 0)
        {
            buffer.Write([(byte)2]);
        }
        else
        {
            buffer.Write([(byte)3]);
            WriteVarint(buffer, (ulong)zeros);
        }

        WriteUnsigned(buffer, BigInteger.Parse(position.Value, CultureInfo.InvariantCulture));
        WriteVarint(buffer, (ulong)position.SubSequence);
    }

    private static void WriteUnsigned(ArrayBufferWriter<byte> buffer, BigInteger value)
    {
        if (value.Sign < 0)
        {
            throw new ArgumentException("A lane's first incomplete position must come after the checkpoint.", nameof(value));
        }

        byte[] bytes = value.IsZero ? [] : value.ToByteArray(isUnsigned: true, isBigEndian: true);
        WriteVarint(buffer, (ulong)bytes.Length);
        buffer.Write(bytes);
    }

    private static void WriteString(ArrayBufferWriter<byte> buffer, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        WriteVarint(buffer, (ulong)bytes.Length);
        buffer.Write(bytes);
    }

    private static void WriteVarint(ArrayBufferWriter<byte> buffer, ulong value)
    {
        Span<byte> span = buffer.GetSpan(10);
        int length = 0;
        while (value >= 0x80)
        {
            span[length++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[length++] = (byte)value;
        buffer.Advance(length);
    }

    private ref struct Reader(ReadOnlySpan<byte> bytes)
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes;
        private int _offset;

        public byte Byte()
        {
            Need(1);
            return _bytes[_offset++];
        }

        public ulong UInt64()
        {
            Need(8);
            ulong value = BinaryPrimitives.ReadUInt64LittleEndian(_bytes.Slice(_offset, 8));
            _offset += 8;
            return value;
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                byte b = Byte();
                value |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    return value;
                }
            }

            throw new InvalidDataException($"key state has an overlong number at byte {_offset}.");
        }

        public int Count(int minBytesEach)
        {
            ulong count = Varint();
            if (count > (ulong)((_bytes.Length - _offset) / minBytesEach) + 1)
            {
                throw new InvalidDataException($"key state announces {count} entries at byte {_offset}, more than its {_bytes.Length} bytes can hold.");
            }

            return (int)count;
        }

        public long SubSequence()
        {
            ulong value = Varint();
            return value <= long.MaxValue ? (long)value : throw new InvalidDataException($"key state has a sub-sequence number above 2^63-1 at byte {_offset}.");
        }

        public BigInteger Unsigned()
        {
            int length = Length(64);
            var value = new BigInteger(_bytes.Slice(_offset, length), isUnsigned: true, isBigEndian: true);
            _offset += length;
            return value;
        }

        public SequenceNumber Position()
        {
            byte tag = Byte();
            return tag switch
            {
                0 => SequenceNumber.None,
                1 => SequenceNumber.ShardEnd,
                2 => new SequenceNumber(Unsigned().ToString(CultureInfo.InvariantCulture), SubSequence()),
                3 => Padded(),
                _ => throw new InvalidDataException($"key state has an unknown position tag {tag} at byte {_offset - 1}."),
            };
        }

        private SequenceNumber Padded()
        {
            ulong zeros = Varint();
            if (zeros is 0 or > 1024)
            {
                throw new InvalidDataException($"key state has {zeros} leading zeros at byte {_offset}.");
            }

            string digits = Unsigned().ToString(CultureInfo.InvariantCulture);
            return new SequenceNumber(new string('0', (int)zeros) + digits, SubSequence());
        }

        public string String()
        {
            int length = Length(MaxStringBytes);
            string value;
            try
            {
                value = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(_bytes.Slice(_offset, length));
            }
            catch (DecoderFallbackException ex)
            {
                throw new InvalidDataException($"key state has a string that is not UTF-8 at byte {_offset}.", ex);
            }

            _offset += length;
            return value;
        }

        public readonly void End()
        {
            if (_offset != _bytes.Length)
            {
                throw new InvalidDataException($"key state has {_bytes.Length - _offset} unexpected bytes after its end.");
            }
        }

        private int Length(int max)
        {
            ulong length = Varint();
            if (length > (ulong)max)
            {
                throw new InvalidDataException($"key state has a field of {length} bytes at byte {_offset}, above the limit of {max}.");
            }

            Need((int)length);
            return (int)length;
        }

        private readonly void Need(int count)
        {
            if (_bytes.Length - _offset < count)
            {
                throw new InvalidDataException($"key state is cut short at byte {_offset} (of {_bytes.Length}).");
            }
        }
    }
}
