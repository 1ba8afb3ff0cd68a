using System.Security.Cryptography;
using System.Text;
using StreamLanes.Checkpointing;

namespace StreamLanes.Engine.Tests.Sources.Kinesis;

/// <summary>
/// The KPL aggregate format. <c>Fixtures/kpl-aggregate-3-records.bin</c> was written by AWS Labs' own aggregation
/// library (npm aws-kinesis-agg 4.2.8), not by this project: three user records, the second with an explicit hash key.
/// </summary>
public sealed class KplDeaggregatorTests
{
    private static byte[] Fixture() =>
        File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Kinesis", "Fixtures", "kpl-aggregate-3-records.bin"));

    [Fact]
    public void An_aggregate_written_by_the_aws_library_yields_its_user_records_in_order()
    {
        IReadOnlyList<KplDeaggregator.UserRecord>? records = KplDeaggregator.TryDeaggregate(Fixture());

        Assert.NotNull(records);
        Assert.Equal(3, records.Count);
        Assert.Equal(["customer-1", "customer-2", "customer-1"], records.Select(r => r.PartitionKey));
        Assert.Equal([null, "170141183460469231731687303715884105728", null], records.Select(r => r.ExplicitHashKey));
        Assert.Equal("first: {\"order\":1}", Encoding.UTF8.GetString(records[0].Data.Span));
        Assert.Equal("second: 我愛你", Encoding.UTF8.GetString(records[1].Data.Span));
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, records[2].Data.ToArray());
    }

    [Theory]
    [InlineData(4)]    // the first byte of the protobuf message
    [InlineData(80)]   // inside a user record's data
    [InlineData(143)]  // the last byte of the MD5 digest
    public void A_changed_byte_fails_the_digest_and_the_record_passes_whole(int offset)
    {
        byte[] bytes = Fixture();
        bytes[offset] ^= 0x01;

        Assert.Null(KplDeaggregator.TryDeaggregate(bytes));
    }

    [Fact]
    public void A_truncated_aggregate_passes_whole()
    {
        byte[] bytes = Fixture();

        Assert.Null(KplDeaggregator.TryDeaggregate(bytes.AsMemory(..^1)));
        Assert.Null(KplDeaggregator.TryDeaggregate(bytes.AsMemory(..19)));
    }

    [Fact]
    public void A_record_without_the_magic_bytes_passes_whole_even_with_a_valid_digest()
    {
        byte[] message = Fixture()[4..^16];
        byte[] bytes = [0xF3, 0x89, 0x9A, 0xC3, .. message, .. Md5(message)];

        Assert.Null(KplDeaggregator.TryDeaggregate(bytes));
        Assert.Null(KplDeaggregator.TryDeaggregate("plain JSON payload, not an aggregate"u8.ToArray()));
        Assert.Null(KplDeaggregator.TryDeaggregate(ReadOnlyMemory<byte>.Empty));
    }

    [Fact]
    public void A_user_record_pointing_outside_the_key_table_passes_whole()
    {
        // partition_key_table = ["k"]; records = [{ partition_key_index = 1, data = "x" }]
        byte[] message = [0x0A, 0x01, (byte)'k', 0x1A, 0x05, 0x08, 0x01, 0x1A, 0x01, (byte)'x'];

        Assert.Null(KplDeaggregator.TryDeaggregate(Aggregate(message)));
    }

    [Fact]
    public void A_malformed_protobuf_message_passes_whole()
    {
        // A length that runs past the end of the message, and a varint that never ends.
        Assert.Null(KplDeaggregator.TryDeaggregate(Aggregate([0x0A, 0x7F, (byte)'k'])));
        Assert.Null(KplDeaggregator.TryDeaggregate(Aggregate([0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])));
        Assert.Null(KplDeaggregator.TryDeaggregate(Aggregate([0x0B]))); // wire type 3 (groups) is not used by the KPL
    }

    [Fact]
    public void Fields_the_format_adds_later_are_skipped()
    {
        // partition_key_table = ["k"]; a field 9 varint; records = [{ partition_key_index = 0, data = "x", tags (4) = {} , field 7 fixed32 }]
        byte[] record = [0x08, 0x00, 0x1A, 0x01, (byte)'x', 0x22, 0x00, 0x3D, 1, 2, 3, 4];
        byte[] message = [0x0A, 0x01, (byte)'k', 0x48, 0x05, 0x1A, (byte)record.Length, .. record];

        IReadOnlyList<KplDeaggregator.UserRecord>? records = KplDeaggregator.TryDeaggregate(Aggregate(message));

        Assert.NotNull(records);
        KplDeaggregator.UserRecord only = Assert.Single(records);
        Assert.Equal("k", only.PartitionKey);
        Assert.Equal("x"u8.ToArray(), only.Data.ToArray());
    }

    [Fact]
    public void The_user_records_of_an_aggregate_share_its_sequence_number_and_are_numbered_by_sub_sequence()
    {
        const string sequence = "49590338271490256608559692538361571095921575989136588898";
        var arrival = new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
        var record = new KinesisRecord { SequenceNumber = sequence, PartitionKey = "aggregate-key", Data = Fixture(), ApproximateArrivalTimestamp = arrival };

        StreamRecord[] users = [.. KinesisSource.Expand("orders", "shardId-000000000000", record, deaggregate: true, TimeProvider.System)];

        Assert.Equal([0L, 1, 2], users.Select(user => user.SubSequenceNumber));
        Assert.All(users, user => Assert.Equal(sequence, user.SequenceNumber));
        Assert.Equal(["customer-1", "customer-2", "customer-1"], users.Select(user => user.PartitionKey));
        Assert.All(users, user => Assert.Equal(arrival, user.ArrivalTime));
        Assert.Equal("second: 我愛你", Encoding.UTF8.GetString(users[1].Data.Span));

        // A reader resuming inside the aggregate skips the records at or before its checkpoint (sequence, 1): only the
        // third user record is after it, and all three are after the previous aggregate's last record.
        var checkpoint = new SequenceNumber(sequence, 1);
        Assert.Equal([false, false, true], users.Select(user => user.Position > checkpoint));
        Assert.All(users, user => Assert.True(user.Position > new SequenceNumber("49590338271490256608559692538361571095921575989136588897", 7)));
    }

    [Fact]
    public void A_record_that_is_not_an_aggregate_or_not_deaggregated_is_one_record_at_sub_sequence_zero()
    {
        byte[] corrupt = Fixture();
        corrupt[143] ^= 0x01;
        var bad = new KinesisRecord { SequenceNumber = "42", PartitionKey = "aggregate-key", Data = corrupt };
        var good = new KinesisRecord { SequenceNumber = "43", PartitionKey = "aggregate-key", Data = Fixture() };

        StreamRecord whole = Assert.Single(KinesisSource.Expand("orders", "shardId-000000000000", bad, deaggregate: true, TimeProvider.System));
        StreamRecord kept = Assert.Single(KinesisSource.Expand("orders", "shardId-000000000000", good, deaggregate: false, TimeProvider.System));

        Assert.Equal((0L, "aggregate-key"), (whole.SubSequenceNumber, whole.PartitionKey));
        Assert.Equal(corrupt, whole.Data.ToArray());
        Assert.Equal((0L, "aggregate-key"), (kept.SubSequenceNumber, kept.PartitionKey));
        Assert.Equal(Fixture(), kept.Data.ToArray());
    }

    private static byte[] Aggregate(byte[] message) => [0xF3, 0x89, 0x9A, 0xC2, .. message, .. Md5(message)];

#pragma warning disable CA5351 // the KPL format's integrity check
    private static byte[] Md5(byte[] message) => MD5.HashData(message);
#pragma warning restore CA5351
}
