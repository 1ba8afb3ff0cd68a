using StreamLanes.Checkpointing;

namespace StreamLanes.Checkpointing.Tests.Sequencing;

public sealed class SequenceNumberTests
{
    [Fact]
    public void Compares_numerically_not_lexically()
    {
        Assert.True(new SequenceNumber("9") < new SequenceNumber("10"));
        Assert.True(new SequenceNumber("0010") == new SequenceNumber("10"));
        Assert.True(new SequenceNumber("49590338271490256608559692538361571095921575989136588898")
            < new SequenceNumber("49590338271490256608559692540925702759324208523137515618"));
    }

    [Fact]
    public void Compares_beyond_128_bits()
    {
        string big = new('9', 40);
        Assert.True(new SequenceNumber(big) > new SequenceNumber(UInt128.MaxValue.ToString()));
    }

    [Fact]
    public void Sub_sequence_orders_records_within_an_aggregate()
    {
        Assert.True(new SequenceNumber("5", 0) < new SequenceNumber("5", 1));
        Assert.True(new SequenceNumber("5", 99) < new SequenceNumber("6", 0));
    }

    [Fact]
    public void Sentinels_sort_before_and_after_every_real_position()
    {
        var real = new SequenceNumber(new string('9', 60));
        Assert.True(SequenceNumber.None < real);
        Assert.True(real < SequenceNumber.ShardEnd);
        Assert.True(SequenceNumber.Parse("SHARD_END").IsShardEnd);
        Assert.True(SequenceNumber.Parse(null).IsNone);
    }

    [Theory]
    [InlineData("")]
    [InlineData("12a")]
    [InlineData("-1")]
    public void Rejects_non_decimal_values(string value)
    {
        Assert.ThrowsAny<ArgumentException>(() => new SequenceNumber(value));
    }

    [Fact]
    public void Equal_positions_hash_alike()
    {
        Assert.Equal(new SequenceNumber("007", 2).GetHashCode(), new SequenceNumber("7", 2).GetHashCode());
    }
}
