using System.Numerics;
using StreamLanes.Checkpointing;

namespace StreamLanes.Checkpointing.Tests.KeyState;

/// <summary>Which parked keys a child shard takes over from its parents at <c>SHARD_END</c>.</summary>
public sealed class ParkedKeyInheritanceTests
{
    private static readonly BigInteger Middle = BigInteger.Pow(2, 127);
    private static readonly string Top = (BigInteger.Pow(2, 128) - 1).ToString();

    private static ParkedKeyState Parked(string key, ulong position) => new(key, SequenceNumber.FromInteger(position), $"c/s/parent/{position}/0");

    [Fact]
    public void After_a_split_each_key_goes_to_the_child_whose_hash_range_holds_its_md5_only()
    {
        string[] keys = [.. Enumerable.Range(0, 40).Select(i => $"key-{i}")];
        var parent = new ShardKeyState { Checkpoint = SequenceNumber.ShardEnd, ParkedKeys = [.. keys.Select((k, i) => Parked(k, (ulong)i + 1))] };

        IReadOnlyList<ParkedKeyState> low = ParkedKeyInheritance.Select([parent], "0", (Middle - 1).ToString());
        IReadOnlyList<ParkedKeyState> high = ParkedKeyInheritance.Select([parent], Middle.ToString(), Top);

        Assert.Equal(keys.Length, low.Count + high.Count);
        Assert.Empty(low.Select(k => k.Key).Intersect(high.Select(k => k.Key)));
        Assert.All(low, k => Assert.True(ParkedKeyInheritance.HashKeyOf(k.Key) < Middle));
        Assert.All(high, k => Assert.True(ParkedKeyInheritance.HashKeyOf(k.Key) >= Middle));
        Assert.NotEmpty(low);
        Assert.NotEmpty(high);

        // Kinesis's documented mapping: MD5 of the UTF-8 key as a 128-bit big-endian number ("a" → 0cc175b9c0f1b6a8...).
        Assert.Equal(BigInteger.Parse("00cc175b9c0f1b6a831c399e269772661", System.Globalization.NumberStyles.HexNumber), ParkedKeyInheritance.HashKeyOf("a"));
    }

    [Fact]
    public void A_merge_takes_the_union_and_a_key_parked_in_both_keeps_its_earlier_dead_letter()
    {
        var left = new ShardKeyState { Checkpoint = SequenceNumber.ShardEnd, ParkedKeys = [Parked("a", 5), Parked("b", 9)] };
        var right = new ShardKeyState { Checkpoint = SequenceNumber.ShardEnd, ParkedKeys = [Parked("b", 3), Parked("c", 4)] };

        IReadOnlyList<ParkedKeyState> merged = ParkedKeyInheritance.Select([left, right], "0", Top);

        Assert.Equal(["a", "b", "c"], merged.Select(k => k.Key));
        Assert.Equal(SequenceNumber.FromInteger(3), merged.Single(k => k.Key == "b").Position);
    }

    [Fact]
    public void Without_a_hash_range_or_with_custom_lane_keys_every_child_takes_every_key()
    {
        var parent = new ShardKeyState { Checkpoint = SequenceNumber.ShardEnd, ParkedKeys = [Parked("a", 1), Parked("z", 2)] };
        var custom = new ShardKeyState { Checkpoint = SequenceNumber.ShardEnd, CustomLaneKey = true, ParkedKeys = [Parked("a", 1), Parked("z", 2)] };

        Assert.Equal(2, ParkedKeyInheritance.Select([parent], null, null).Count);
        Assert.Equal(2, ParkedKeyInheritance.Select([custom], "0", "1").Count);
        Assert.Empty(ParkedKeyInheritance.Select([parent], "0", "1"));
    }
}
