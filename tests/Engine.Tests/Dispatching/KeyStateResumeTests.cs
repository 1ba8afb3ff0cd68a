using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;

namespace StreamLanes.Engine.Tests.Dispatching;

/// <summary>
/// The shard's key state across a restart: with keys stuck in <see cref="KeyFailureMode.RetryUntilSuccess"/> while
/// later records of other keys complete, the restarted consumer handles exactly the records that were incomplete
/// (per lane, in order), and parked keys stay parked.
/// </summary>
public sealed class KeyStateResumeTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task After_a_restart_only_the_incomplete_records_are_handled_again(bool customLaneKey)
    {
        for (int seed = 0; seed < 6; seed++)
        {
            var random = new Random(seed);
            var stream = new InMemoryStream("orders");
            Func<StreamRecord, string> laneOf = customLaneKey ? static r => r.PartitionKey.Split('-')[0] : static r => r.PartitionKey;
            var records = new List<StreamRecord>();
            for (int i = 0; i < 400; i++)
            {
                records.Add(stream.Put($"t{random.Next(25)}-{random.Next(3)}", $"{i}"));
            }

            // A few lanes get stuck at one of their records: it and every later record of its lane stay incomplete.
            var stuckAt = new Dictionary<string, int>();
            foreach (IGrouping<string, int> lane in Enumerable.Range(0, records.Count).GroupBy(i => laneOf(records[i])).OrderBy(g => g.Key).Where(_ => random.Next(5) == 0))
            {
                stuckAt[lane.Key] = lane.ElementAt(random.Next(lane.Count()));
            }

            bool Incomplete(int i) => stuckAt.TryGetValue(laneOf(records[i]), out int at) && i >= at;
            var stuck = new HashSet<SequenceNumber>(stuckAt.Values.Select(i => records[i].Position));
            var store = new InMemoryCheckpointStore();
            var first = new RecordingHandler
            {
                Behaviour = (record, _, _) => stuck.Contains(record.Position) ? ValueTask.FromException(new InvalidOperationException("stuck")) : ValueTask.CompletedTask,
            };
            int completeCount = Enumerable.Range(0, records.Count).Count(i => !Incomplete(i));
            await using (ConsumerHarness run = Create(stream, first, store, customLaneKey ? laneOf : null))
            {
                await run.StartAsync();
                await run.WaitUntilAsync(status => status.Handled >= completeCount);
                await WaitForCheckpointRoundsAsync(run, 2);
                await run.StopAsync();
            }

            var second = new RecordingHandler();
            await using (ConsumerHarness run = Create(stream, second, store, customLaneKey ? laneOf : null))
            {
                await run.StartAsync();
                int incompleteCount = records.Count - completeCount;
                await run.WaitUntilAsync(status => status.Handled >= incompleteCount && status.Buffered == 0);
                await WaitUntilReadToAsync(run, records[^1].Position);

                var expected = Enumerable.Range(0, records.Count).Where(Incomplete).Select(i => records[i].Position).ToList();
                Assert.Equal(expected, second.Calls.Select(c => c.Record.Position).Order().ToList());

                // Per lane, in sequence order.
                foreach (IGrouping<string, HandlerCall> lane in second.Calls.GroupBy(c => laneOf(c.Record)))
                {
                    Assert.Equal(lane.Select(c => c.Record.Position).Order(), lane.Select(c => c.Record.Position));
                }

                // The records read again past the checkpoint (the one before the first incomplete record) that were
                // passed over as complete.
                int firstIncomplete = Enumerable.Range(0, records.Count).FirstOrDefault(Incomplete, records.Count);
                int passedOver = Enumerable.Range(firstIncomplete, records.Count - firstIncomplete).Count(i => !Incomplete(i));
                Assert.Equal(passedOver, run.Runtime.Shards.Sum(s => s.SkippedAsComplete));
            }
        }
    }

    [Fact]
    public async Task With_the_incomplete_set_off_everything_after_the_checkpoint_is_handled_again()
    {
        var stream = new InMemoryStream("orders");
        StreamRecord stuck = stream.Put("stuck", "0");
        var later = Enumerable.Range(0, 200).Select(i => stream.Put($"k{i}", "x")).ToList();
        var store = new InMemoryCheckpointStore();
        var first = new RecordingHandler { Behaviour = (r, _, _) => r.Position == stuck.Position ? ValueTask.FromException(new InvalidOperationException("stuck")) : ValueTask.CompletedTask };
        await using (ConsumerHarness run = Create(stream, first, store, null, maxKeyStateBytes: 0))
        {
            await run.StartAsync();
            await run.WaitUntilAsync(status => status.Handled >= later.Count);
            await WaitForCheckpointRoundsAsync(run, 2);
            await run.StopAsync();
        }

        var second = new RecordingHandler();
        await using ConsumerHarness again = Create(stream, second, store, null, maxKeyStateBytes: 0);
        await again.StartAsync();
        await again.WaitUntilAsync(status => status.Handled >= 1 + later.Count && status.Buffered == 0);
        Assert.Equal(1 + later.Count, second.Calls.Count);
    }

    [Fact]
    public async Task A_parked_key_stays_parked_across_a_restart_until_released_and_the_release_is_durable()
    {
        var stream = new InMemoryStream("orders");
        var store = new InMemoryCheckpointStore();
        var sink = new InMemoryDeadLetterSink();
        stream.Put("poison", "bad");
        stream.Put("poison", "behind-1");
        stream.Put("ok", "1");
        var first = new RecordingHandler { Behaviour = static (r, _, _) => r.PartitionKey == "poison" ? ValueTask.FromException(new InvalidOperationException("bad")) : ValueTask.CompletedTask };
        string deadLetterId;
        await using (ConsumerHarness run = Create(stream, first, store, null, sink: sink, parkKey: true))
        {
            await run.StartAsync();
            await run.WaitForAllCompleteAsync();
            deadLetterId = run.DeadLetters.First().Id;
            await run.StopAsync();
        }

        StreamRecord later = stream.Put("poison", "behind-2");
        StreamRecord other = stream.Put("ok", "2");
        var second = new RecordingHandler();
        await using ConsumerHarness again = Create(stream, second, store, null, sink: sink, parkKey: true);
        await again.StartAsync();
        await again.WaitUntilAsync(status => status.Handled + status.DeadLettered >= 2 && status.Buffered == 0);

        Assert.Equal([other.Position], second.Calls.Select(c => c.Record.Position));
        DeadLetterEnvelope parked = sink.Envelopes.Single(e => e.SequenceNumber == later.SequenceNumber);
        Assert.Equal(DeadLetterReason.ParkedBehind, parked.Reason);
        Assert.Equal("1", parked.ParkedBehindSequenceNumber);
        ParkedKeyDetails details = Assert.Single(again.Consumer.Inspect().ParkedKeys);
        Assert.Equal(("poison", stream.ShardIds[0], deadLetterId), (details.Key, details.ShardId, details.DeadLetterId));

        Assert.True(again.Consumer.ReleaseKey("poison"));
        CheckpointKey key = new(ConsumerHarness.ConsumerName, "orders", stream.ShardIds[0]);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (store.KeyStates.TryGetValue(key, out byte[]? state) && ShardKeyStateCodec.Decode(state).ParkedKeys.Count > 0)
        {
            await Task.Delay(5, timeout.Token);
        }
    }

    [Fact]
    public async Task After_a_restart_a_parked_keys_backlog_replays_in_order_and_the_replay_clears_the_key_durably()
    {
        var stream = new InMemoryStream("orders");
        var store = new InMemoryCheckpointStore();
        var sink = new InMemoryDeadLetterSink();
        StreamRecord bad = stream.Put("poison", "bad");
        StreamRecord behind1 = stream.Put("poison", "behind-1");
        stream.Put("ok", "1");
        var first = new RecordingHandler { Behaviour = static (r, _, _) => r.PartitionKey == "poison" ? ValueTask.FromException(new InvalidOperationException("bad")) : ValueTask.CompletedTask };
        await using (ConsumerHarness run = Create(stream, first, store, null, sink: sink, parkKey: true))
        {
            await run.StartAsync();
            await run.WaitForAllCompleteAsync();
            await run.StopAsync();
        }

        // After the restart the key is still parked: its next record is dead-lettered behind the first, not handled.
        StreamRecord behind2 = stream.Put("poison", "behind-2");
        var second = new RecordingHandler();
        await using ConsumerHarness again = Create(stream, second, store, null, sink: sink, parkKey: true);
        await again.StartAsync();
        await again.WaitUntilAsync(_ => sink.Envelopes.Any(e => e.SequenceNumber == behind2.SequenceNumber));
        Assert.DoesNotContain(second.Calls, c => c.Record.PartitionKey == "poison");

        // The downstream is fixed (this run's handler succeeds): the replay hands the backlog over in order, and
        // releases the key in the saved key state too.
        DeadLetterRedriveReport replayed = await again.Consumer.ReplayDeadLettersAsync((IDeadLetterStore)sink);
        Assert.Equal(3, replayed.Counts[DeadLetterOutcome.Replayed]);
        Assert.Equal(["poison"], replayed.ReleasedKeys);
        Assert.Equal(
            [bad.SequenceNumber, behind1.SequenceNumber, behind2.SequenceNumber],
            second.Successes.Where(c => c.Record.PartitionKey == "poison").Select(c => c.Record.SequenceNumber));
        CheckpointKey key = new(ConsumerHarness.ConsumerName, "orders", stream.ShardIds[0]);
        await again.WaitUntilAsync(_ => !store.KeyStates.TryGetValue(key, out byte[]? state) || ShardKeyStateCodec.Decode(state).ParkedKeys.Count == 0);

        // Released: the key's next record is handled live again.
        StreamRecord next = stream.Put("poison", "after");
        await again.WaitUntilAsync(_ => second.Successes.Any(c => c.Record.Position == next.Position));
    }

    private static ConsumerHarness Create(InMemoryStream stream, RecordingHandler handler, InMemoryCheckpointStore store, Func<StreamRecord, string>? laneKey, int maxKeyStateBytes = 65_536, IDeadLetterSink? sink = null, bool parkKey = false)
    {
        if (laneKey is not null)
        {
            handler.KeyOf = laneKey;
        }

        return ConsumerHarness.Create(
            stream,
            handler,
            options =>
            {
                options.MaxKeyStateBytes = maxKeyStateBytes;
                options.DrainTimeout = TimeSpan.FromMilliseconds(100);
                options.MaxAttempts = 1;
            },
            build: b =>
            {
                b.WithFailureMode(parkKey ? KeyFailureMode.ParkKey : KeyFailureMode.RetryUntilSuccess);
                if (laneKey is not null)
                {
                    b.WithLaneKey(laneKey);
                }
            },
            checkpoints: store,
            sink: sink);
    }

    private static async Task WaitForCheckpointRoundsAsync(ConsumerHarness harness, int rounds)
    {
        long target = harness.Runtime.CheckpointRounds + rounds;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (harness.Runtime.CheckpointRounds < target)
        {
            await Task.Delay(5, timeout.Token);
        }
    }

    private static async Task WaitUntilReadToAsync(ConsumerHarness harness, SequenceNumber last)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!harness.Runtime.Shards.All(s => s.Tracker.LastRegistered == last && s.BufferedCount == 0))
        {
            await Task.Delay(5, timeout.Token);
        }
    }
}
