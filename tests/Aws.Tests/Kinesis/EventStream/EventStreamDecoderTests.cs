using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using StreamLanes.Kinesis.EventStream;

namespace StreamLanes.Aws.Tests.EventStream;

/// <summary>
/// The event-stream framing that SubscribeToShard answers with. The two fixtures under <c>Fixtures/</c> are bytes
/// captured from kinesis-mock (kinesis-local 0.6.2): a subscription that replayed two records and then sent two
/// empty heartbeat events, and the ResourceInUseException frame of a second subscription on the same shard.
/// </summary>
public sealed class EventStreamDecoderTests
{
    private static byte[] Fixture(string name) =>
        File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Kinesis", "EventStream", "Fixtures", name));

    [Fact]
    public async Task Captured_subscription_decodes_into_one_record_event_and_two_heartbeats_then_ends_cleanly()
    {
        await using var reader = new EventStreamReader(new MemoryStream(Fixture("subscribe-records-then-heartbeats.bin")));

        EventStreamMessage? first = await reader.ReadAsync(CancellationToken.None);
        Assert.NotNull(first);
        Assert.Equal(EventStreamMessage.EventMessageType, first.MessageType);
        Assert.Equal("SubscribeToShardEvent", first.EventType);
        Assert.Equal("application/json", first.GetString(":content-type"));
        using (JsonDocument json = JsonDocument.Parse(first.Payload))
        {
            JsonElement records = json.RootElement.GetProperty("Records");
            Assert.Equal(2, records.GetArrayLength());
            Assert.Equal("k1", records[0].GetProperty("PartitionKey").GetString());
            Assert.Equal("hello", Encoding.UTF8.GetString(records[0].GetProperty("Data").GetBytesFromBase64()));
            Assert.Equal("k2", records[1].GetProperty("PartitionKey").GetString());
            Assert.Equal(
                records[1].GetProperty("SequenceNumber").GetString(),
                json.RootElement.GetProperty("ContinuationSequenceNumber").GetString());
        }

        for (int heartbeat = 0; heartbeat < 2; heartbeat++)
        {
            EventStreamMessage? next = await reader.ReadAsync(CancellationToken.None);
            Assert.NotNull(next);
            Assert.Equal("SubscribeToShardEvent", next.EventType);
            using JsonDocument json = JsonDocument.Parse(next.Payload);
            Assert.Equal(0, json.RootElement.GetProperty("Records").GetArrayLength());
        }

        Assert.Null(await reader.ReadAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Captured_exception_frame_carries_its_type_and_message()
    {
        await using var reader = new EventStreamReader(new MemoryStream(Fixture("resource-in-use-exception.bin")));

        EventStreamMessage? message = await reader.ReadAsync(CancellationToken.None);

        Assert.NotNull(message);
        Assert.Equal(EventStreamMessage.ExceptionMessageType, message.MessageType);
        Assert.Equal("ResourceInUseException", message.ExceptionType);
        Assert.Null(message.EventType);
        using JsonDocument json = JsonDocument.Parse(message.Payload);
        Assert.Contains("Another active subscription", json.RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Null(await reader.ReadAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Bytes_arriving_one_at_a_time_decode_to_the_same_messages()
    {
        byte[] bytes = Fixture("subscribe-records-then-heartbeats.bin");
        await using var whole = new EventStreamReader(new MemoryStream(bytes));
        await using var trickled = new EventStreamReader(new TrickleStream(bytes, chunk: 1));

        for (int i = 0; i < 3; i++)
        {
            EventStreamMessage? expected = await whole.ReadAsync(CancellationToken.None);
            EventStreamMessage? actual = await trickled.ReadAsync(CancellationToken.None);
            Assert.NotNull(expected);
            Assert.NotNull(actual);
            Assert.Equal(expected.Payload.ToArray(), actual.Payload.ToArray());
            Assert.Equal(expected.Headers, actual.Headers);
        }

        Assert.Null(await trickled.ReadAsync(CancellationToken.None));
    }

    [Fact]
    public void A_changed_length_fails_the_prelude_checksum()
    {
        byte[] bytes = Fixture("resource-in-use-exception.bin");
        bytes[3] ^= 0x01;

        var buffer = new ReadOnlySequence<byte>(bytes);
        var error = Assert.Throws<EventStreamFormatException>(() => EventStreamDecoder.TryDecode(ref buffer, out _));
        Assert.Contains("prelude", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(20)]   // a header name
    [InlineData(200)]  // the payload
    [InlineData(287)]  // the message CRC itself
    public void A_changed_byte_after_the_prelude_fails_the_message_checksum(int offset)
    {
        byte[] bytes = Fixture("resource-in-use-exception.bin");
        bytes[offset] ^= 0x20;

        var buffer = new ReadOnlySequence<byte>(bytes);
        var error = Assert.Throws<EventStreamFormatException>(() => EventStreamDecoder.TryDecode(ref buffer, out _));
        Assert.Contains("message's CRC32", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_that_ends_inside_a_message_is_an_error_after_the_complete_messages()
    {
        byte[] bytes = Fixture("subscribe-records-then-heartbeats.bin");
        int firstLength = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes);
        await using var reader = new EventStreamReader(new MemoryStream(bytes[..(firstLength + 30)]));

        Assert.NotNull(await reader.ReadAsync(CancellationToken.None));
        var error = await Assert.ThrowsAsync<EventStreamFormatException>(() => reader.ReadAsync(CancellationToken.None).AsTask());
        Assert.Contains("ended inside a message (30 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_that_ends_inside_the_prelude_is_an_error()
    {
        await using var reader = new EventStreamReader(new MemoryStream(Fixture("resource-in-use-exception.bin")[..7]));

        await Assert.ThrowsAsync<EventStreamFormatException>(() => reader.ReadAsync(CancellationToken.None).AsTask());
    }

    [Fact]
    public void A_partial_message_waits_for_more_bytes_and_leaves_the_buffer_untouched()
    {
        byte[] bytes = Fixture("resource-in-use-exception.bin");
        for (int length = 0; length < bytes.Length; length += 13)
        {
            var buffer = new ReadOnlySequence<byte>(bytes, 0, length);
            Assert.False(EventStreamDecoder.TryDecode(ref buffer, out EventStreamMessage? message));
            Assert.Null(message);
            Assert.Equal(length, buffer.Length);
        }
    }

    [Fact]
    public void Every_header_type_round_trips()
    {
        var id = Guid.Parse("0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0");
        var when = DateTimeOffset.FromUnixTimeMilliseconds(1_796_128_615_801);
        byte[] frame = Frame(
            [
                Header("t", 0, []),
                Header("f", 1, []),
                Header("b", 2, [0xFE]),
                Header("s", 3, [0x80, 0x01]),
                Header("i", 4, [0x00, 0x01, 0x00, 0x00]),
                Header("l", 5, [0, 0, 0, 0, 0, 0, 0x01, 0x02]),
                Header("bytes", 6, [0x00, 0x03, 1, 2, 3]),
                Header("str", 7, [0x00, 0x02, (byte)'o', (byte)'k']),
                Header("ts", 8, BigEndian(when.ToUnixTimeMilliseconds())),
                Header("id", 9, id.ToByteArray(bigEndian: true)),
            ],
            "{}"u8.ToArray());

        var buffer = new ReadOnlySequence<byte>(frame);
        Assert.True(EventStreamDecoder.TryDecode(ref buffer, out EventStreamMessage? message));
        Assert.NotNull(message);
        Assert.Equal(0, buffer.Length);
        var values = message.Headers.ToDictionary(h => h.Name, h => h.Value);
        Assert.Equal(true, values["t"]);
        Assert.Equal(false, values["f"]);
        Assert.Equal((sbyte)-2, values["b"]);
        Assert.Equal(unchecked((short)0x8001), values["s"]);
        Assert.Equal(65536, values["i"]);
        Assert.Equal(258L, values["l"]);
        Assert.Equal(new byte[] { 1, 2, 3 }, values["bytes"]);
        Assert.Equal("ok", values["str"]);
        Assert.Equal(when, values["ts"]);
        Assert.Equal(id, values["id"]);
        Assert.Equal("{}"u8.ToArray(), message.Payload.ToArray());
    }

    [Fact]
    public void A_header_that_runs_past_its_section_is_an_error()
    {
        // A string header that claims 100 bytes but has 2.
        byte[] frame = Frame([Header("str", 7, [0x00, 0x64, (byte)'o', (byte)'k'])], []);

        var buffer = new ReadOnlySequence<byte>(frame);
        var error = Assert.Throws<EventStreamFormatException>(() => EventStreamDecoder.TryDecode(ref buffer, out _));
        Assert.Contains("header #1 runs past", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_header_type_is_an_error()
    {
        byte[] frame = Frame([Header("x", 42, [])], []);

        var buffer = new ReadOnlySequence<byte>(frame);
        var error = Assert.Throws<EventStreamFormatException>(() => EventStreamDecoder.TryDecode(ref buffer, out _));
        Assert.Contains("unknown type 42", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_header_name_that_is_not_utf8_is_an_error_that_does_not_echo_it()
    {
        byte[] frame = Frame([[2, 0xC3, 0x28, 0]], []);

        var buffer = new ReadOnlySequence<byte>(frame);
        var error = Assert.Throws<EventStreamFormatException>(() => EventStreamDecoder.TryDecode(ref buffer, out _));
        Assert.Contains("header #1 is not valid UTF-8", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(8u, 0u)]                      // shorter than a prelude and a CRC
    [InlineData(16u * 1024 * 1024 + 1, 0u)]   // larger than the service's 16 MiB
    [InlineData(100u, 90u)]                   // headers longer than the message can hold
    [InlineData(200_000u, 131_073u)]          // headers over 128 KiB
    public void Lengths_out_of_range_are_errors_before_any_wait_for_more_bytes(uint total, uint headers)
    {
        byte[] prelude = new byte[EventStreamDecoder.PreludeLength];
        BinaryPrimitives.WriteUInt32BigEndian(prelude, total);
        BinaryPrimitives.WriteUInt32BigEndian(prelude.AsSpan(4), headers);
        BinaryPrimitives.WriteUInt32BigEndian(prelude.AsSpan(8), Crc32.HashToUInt32(prelude.AsSpan(0, 8)));

        var buffer = new ReadOnlySequence<byte>(prelude);
        Assert.Throws<EventStreamFormatException>(() => EventStreamDecoder.TryDecode(ref buffer, out _));
    }

    [Fact]
    public async Task The_body_is_read_only_while_a_message_is_asked_for()
    {
        byte[] bytes = Fixture("subscribe-records-then-heartbeats.bin");
        var body = new TrickleStream(bytes, chunk: 64);
        await using var reader = new EventStreamReader(body);

        Assert.NotNull(await reader.ReadAsync(CancellationToken.None));
        int readsAfterFirst = body.Reads;
        int firstLength = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes);

        // Whatever the consumer does meanwhile, an unasked reader pulls nothing more: that is what lets HTTP/2 flow
        // control hold the server back while the shard's buffer is full.
        Assert.Equal((firstLength + 63) / 64, readsAfterFirst);
        Assert.Equal(readsAfterFirst, body.Reads);
        Assert.NotNull(await reader.ReadAsync(CancellationToken.None));
        Assert.True(body.Reads > readsAfterFirst);
    }

    private static byte[] Header(string name, byte type, byte[] value)
    {
        byte[] nameBytes = Encoding.UTF8.GetBytes(name);
        return [(byte)nameBytes.Length, .. nameBytes, type, .. value];
    }

    private static byte[] BigEndian(long value)
    {
        byte[] bytes = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(bytes, value);
        return bytes;
    }

    /// <summary>Builds a frame with correct lengths and checksums around the given headers and payload.</summary>
    private static byte[] Frame(byte[][] headers, byte[] payload)
    {
        byte[] headerBytes = [.. headers.SelectMany(h => h)];
        int total = EventStreamDecoder.MinimumMessageLength + headerBytes.Length + payload.Length;
        byte[] frame = new byte[total];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)total);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(4), (uint)headerBytes.Length);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(8), Crc32.HashToUInt32(frame.AsSpan(0, 8)));
        headerBytes.CopyTo(frame, 12);
        payload.CopyTo(frame, 12 + headerBytes.Length);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(total - 4), Crc32.HashToUInt32(frame.AsSpan(0, total - 4)));
        return frame;
    }

    /// <summary>A body that hands out at most <c>chunk</c> bytes per read and counts the reads, like a slow network.</summary>
    private sealed class TrickleStream(byte[] bytes, int chunk) : Stream
    {
        private int _position;

        public int Reads { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            Reads++;
            int n = Math.Min(Math.Min(chunk, buffer.Length), bytes.Length - _position);
            bytes.AsSpan(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
