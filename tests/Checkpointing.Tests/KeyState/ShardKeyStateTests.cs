using System.Globalization;
using System.Numerics;
using StreamLanes.Checkpointing;

namespace StreamLanes.Checkpointing.Tests.KeyState;

/// <summary>
/// The key state's encoding and its skip decision: for every record between the checkpoint and the furthest record
/// read, a saved and reloaded state says "complete" exactly for the records that were complete, and never for one
/// that was not.
/// </summary>
public sealed class ShardKeyStateTests
{
    [Fact]
    public void Random_lane_patterns_round_trip_to_the_exact_skip_decision()
    {
        int decided = 0;
        for (int seed = 0; seed < 300; seed++)
        {
            var random = new Random(seed);
            Scenario scenario = Scenario.Random(random);
            (byte[] bytes, bool dropped) = ShardKeyStateCodec.Encode(scenario.State, maxBytes: 65_536);
            Assert.False(dropped);
            ShardKeyState loaded = ShardKeyStateCodec.Decode(bytes);

            Assert.Equal(scenario.State.Checkpoint, loaded.Checkpoint);
            Assert.Equal(scenario.State.HasIncompleteSet, loaded.HasIncompleteSet);
            if (loaded.HasIncompleteSet)
            {
                Assert.Equal(scenario.State.FurthestRead, loaded.FurthestRead);
            }

            Assert.Equal(scenario.State.ParkedKeys, loaded.ParkedKeys);
            for (int i = 0; i < scenario.Records.Count; i++)
            {
                (string key, SequenceNumber position, bool complete) = scenario.Records[i];
                if (position.CompareTo(loaded.Checkpoint) <= 0)
                {
                    // Covered by the checkpoint: the source never reads it again, and the state claims nothing.
                    Assert.True(complete, $"seed {seed}: record {i} is at or before the checkpoint but incomplete");
                    continue;
                }

                Assert.True(complete == loaded.IsCertainlyComplete(key, position), $"seed {seed}: record {i} ({key} at {position}) complete={complete}");
                decided++;
            }

            // Past the furthest record read nothing is known.
            Assert.False(loaded.IsCertainlyComplete("any", Scenario.After(scenario.State.FurthestRead)));
            Assert.False(loaded.IsCertainlyComplete("any", new SequenceNumber(scenario.State.FurthestRead.Value!, scenario.State.FurthestRead.SubSequence + 1)));
        }

        Assert.True(decided > 10_000, $"only {decided} records were past a checkpoint");
    }

    [Fact]
    public void Two_lanes_with_one_hash_share_the_earlier_position_so_a_collision_only_redelivers()
    {
        ulong hash = ShardKeyState.HashOf("a");
        var state = new ShardKeyState
        {
            Checkpoint = SequenceNumber.FromInteger(10),
            FurthestRead = SequenceNumber.FromInteger(100),
            IncompleteLanes = [new IncompleteLane(hash, SequenceNumber.FromInteger(50)), new IncompleteLane(hash, SequenceNumber.FromInteger(20))],
        };
        ShardKeyState loaded = ShardKeyStateCodec.Decode(ShardKeyStateCodec.Encode(state, 65_536).Bytes);

        Assert.True(loaded.IsCertainlyComplete("a", SequenceNumber.FromInteger(19)));
        Assert.False(loaded.IsCertainlyComplete("a", SequenceNumber.FromInteger(20)));
        Assert.False(loaded.IsCertainlyComplete("a", SequenceNumber.FromInteger(30)));
        Assert.True(loaded.IsCertainlyComplete("b", SequenceNumber.FromInteger(30)));
    }

    [Fact]
    public void Above_the_size_bound_the_incomplete_set_is_left_out_and_parked_keys_kept()
    {
        var parked = new ParkedKeyState("poison", new SequenceNumber("49590338271490256608559692538361571095921575989136588898", 2), "orders/s/shard-1/49590338271490256608559692538361571095921575989136588898/2");
        var state = new ShardKeyState
        {
            Checkpoint = SequenceNumber.FromInteger(1000),
            FurthestRead = SequenceNumber.FromInteger(5000),
            IncompleteLanes = [.. Enumerable.Range(0, 1000).Select(i => new IncompleteLane(ShardKeyState.HashOf($"k{i}"), SequenceNumber.FromInteger(1001 + (ulong)i)))],
            ParkedKeys = [parked],
        };

        (byte[] within, bool droppedWithin) = ShardKeyStateCodec.Encode(state, 65_536);
        (byte[] bounded, bool dropped) = ShardKeyStateCodec.Encode(state, 4096);

        Assert.False(droppedWithin);
        Assert.True(within.Length > 4096);
        Assert.True(dropped);
        Assert.True(bounded.Length <= 4096);
        ShardKeyState loaded = ShardKeyStateCodec.Decode(bounded);
        Assert.False(loaded.HasIncompleteSet);
        Assert.False(loaded.IsCertainlyComplete("k5", SequenceNumber.FromInteger(1002)));
        Assert.Equal([parked], loaded.ParkedKeys);
    }

    [Fact]
    public void A_lane_costs_a_bounded_number_of_bytes_with_real_kinesis_sequence_numbers()
    {
        BigInteger checkpoint = BigInteger.Parse("49590338271490256608559692538361571095921575989136588898", CultureInfo.InvariantCulture);
        var state = new ShardKeyState
        {
            Checkpoint = new SequenceNumber(checkpoint.ToString(CultureInfo.InvariantCulture)),
            FurthestRead = new SequenceNumber((checkpoint + BigInteger.Pow(10, 22)).ToString(CultureInfo.InvariantCulture)),
            IncompleteLanes = [.. Enumerable.Range(1, 400).Select(i => new IncompleteLane(ShardKeyState.HashOf($"key-{i}"), new SequenceNumber((checkpoint + (BigInteger.Pow(10, 19) * i)).ToString(CultureInfo.InvariantCulture), i % 3)))],
        };

        byte[] bytes = ShardKeyStateCodec.Encode(state, 65_536).Bytes;

        // 8-byte hash + length + 9-byte distance + sub-sequence, plus a small fixed header.
        Assert.InRange(bytes.Length, 400 * 18, (400 * 20) + 64);
    }

    [Fact]
    public void Every_truncation_and_foreign_version_is_refused_never_reinterpreted()
    {
        Scenario scenario = Scenario.Random(new Random(7));
        byte[] bytes = ShardKeyStateCodec.Encode(scenario.State, 65_536).Bytes;
        for (int length = 0; length < bytes.Length; length++)
        {
            Assert.Throws<InvalidDataException>(() => ShardKeyStateCodec.Decode(bytes.AsSpan(0, length)));
        }

        Assert.Throws<InvalidDataException>(() => ShardKeyStateCodec.Decode([.. bytes, 0]));
        byte[] future = [.. bytes];
        future[0] = 2;
        InvalidDataException error = Assert.Throws<InvalidDataException>(() => ShardKeyStateCodec.Decode(future));
        Assert.Contains("version 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Zero_padded_positions_keep_their_text_as_identities_do()
    {
        var parked = new ParkedKeyState("group", new SequenceNumber("00000000000000000001"), "c/q/receivers/00000000000000000001/0");
        var state = new ShardKeyState { Checkpoint = new SequenceNumber("0042", 3), ParkedKeys = [parked] };
        ShardKeyState loaded = ShardKeyStateCodec.Decode(ShardKeyStateCodec.Encode(state, 0).Bytes);
        Assert.Equal("00000000000000000001", loaded.ParkedKeys[0].Position.Value);
        Assert.Equal("0042", loaded.Checkpoint.Value);
        Assert.Equal(3, loaded.Checkpoint.SubSequence);
    }

    [Fact]
    public void A_state_never_claims_a_record_at_or_before_its_checkpoint_or_past_its_furthest_read()
    {
        var state = new ShardKeyState { Checkpoint = SequenceNumber.FromInteger(10), FurthestRead = SequenceNumber.FromInteger(20) };
        Assert.False(state.IsCertainlyComplete("k", SequenceNumber.FromInteger(10)));
        Assert.True(state.IsCertainlyComplete("k", SequenceNumber.FromInteger(11)));
        Assert.True(state.IsCertainlyComplete("k", SequenceNumber.FromInteger(20)));
        Assert.False(state.IsCertainlyComplete("k", new SequenceNumber("20", 1)));
    }

    /// <summary>
    /// Records in arrival order over many lanes (Kinesis-sized sequence numbers, KPL sub-sequences), each lane having
    /// completed a random prefix of its records (lanes complete in order); the state built from it as the engine builds
    /// it: the checkpoint before the first incomplete record, each lagging lane's first incomplete record.
    /// </summary>
    private sealed record Scenario(List<(string Key, SequenceNumber Position, bool Complete)> Records, ShardKeyState State)
    {
        public static SequenceNumber After(SequenceNumber position)
            => new((BigInteger.Parse(position.Value!, CultureInfo.InvariantCulture) + 1).ToString(CultureInfo.InvariantCulture));

        public static Scenario Random(Random random)
        {
            int laneCount = random.Next(1, 300);
            int recordCount = random.Next(1, 1500);
            BigInteger sequence = BigInteger.Parse("49590338271490256608559692538361571095921575989136588898", CultureInfo.InvariantCulture) + random.Next();
            var records = new List<(string Key, SequenceNumber Position)>();
            while (records.Count < recordCount)
            {
                sequence += random.Next(1, 1_000_000) * (BigInteger)random.Next(1, 1_000_000);

                // One Kinesis record in five is a KPL aggregate of several user records under one sequence number.
                int aggregated = random.Next(5) == 0 ? random.Next(2, 6) : 1;
                for (int sub = 0; sub < aggregated; sub++)
                {
                    string key = $"key-{random.Next(laneCount)}";
                    records.Add((key, new SequenceNumber(sequence.ToString(CultureInfo.InvariantCulture), aggregated == 1 ? 0 : sub)));
                }
            }

            // Each lane completed a random prefix: none, some or all of its records.
            var completedPerLane = records.GroupBy(r => r.Key).ToDictionary(g => g.Key, g => random.Next(4) == 0 ? g.Count() : random.Next(g.Count() + 1));
            var seenPerLane = new Dictionary<string, int>();
            var withTruth = new List<(string, SequenceNumber, bool)>();
            foreach ((string key, SequenceNumber position) in records)
            {
                int seen = seenPerLane.GetValueOrDefault(key);
                seenPerLane[key] = seen + 1;
                withTruth.Add((key, position, seen < completedPerLane[key]));
            }

            int firstIncomplete = withTruth.FindIndex(r => !r.Item3);
            SequenceNumber checkpoint = firstIncomplete switch
            {
                -1 => records[^1].Position,
                0 => SequenceNumber.None,
                _ => records[firstIncomplete - 1].Position,
            };
            var lanes = withTruth.Where(r => !r.Item3).GroupBy(r => r.Item1).Select(g => new IncompleteLane(ShardKeyState.HashOf(g.Key), g.First().Item2)).ToList();
            var parked = Enumerable.Range(0, random.Next(4))
                .Select(i => new ParkedKeyState($"parked-é-{i}", records[random.Next(records.Count)].Position, $"orders/stream/shard/{i}"))
                .ToList();
            var state = new ShardKeyState { Checkpoint = checkpoint, FurthestRead = records[^1].Position, IncompleteLanes = lanes, ParkedKeys = parked };
            return new Scenario(withTruth, state);
        }
    }
}
