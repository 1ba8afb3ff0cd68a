using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.Dispatching;

/// <summary>
/// A lane's pump takes several queued records of its key at once (KeyLane.MaxTaken) and completes them on its next
/// visit to the shard's lock: order, the checkpoint, the buffer count and inspection must not see the difference.
/// </summary>
public sealed class LaneBatchTests
{
    [Fact]
    public async Task Records_taken_with_a_retrying_one_are_completed_before_it_waits_and_the_rest_stay_queued_behind_it()
    {
        var stream = new InMemoryStream("orders", shardCount: 1);
        var handler = new RecordingHandler();
        bool fixedDownstream = false;

        // Six records of one key, queued before the consumer starts: its pump takes them together. The third fails
        // until fixed, so the pump waits in its retry back-off with two records done and three behind it.
        StreamRecord[] put = [.. Enumerable.Range(0, 6).Select(i => stream.Put("key", $"{{\"n\":{i}}}"))];
        StreamRecord poison = put[2];
        handler.Behaviour = (record, attempt, _) => record == poison && !Volatile.Read(ref fixedDownstream)
            ? throw new InvalidOperationException($"attempt {attempt} rejected")
            : ValueTask.CompletedTask;
        await using ConsumerHarness harness = ConsumerHarness.Create(stream, handler, options =>
        {
            options.FailureMode = KeyFailureMode.RetryUntilSuccess;
            options.MaxBufferedRecordsPerShard = 8;
            options.MaxBufferedRecords = 8;
            options.CheckpointInterval = TimeSpan.FromMilliseconds(50);
        });
        await harness.StartAsync();

        await WaitAsync(() => harness.Consumer.Inspect().BlockedKeys is [{ Attempts: >= 2 }], "the key blocked on its third record");
        BlockedKeyDetails blocked = Assert.Single(harness.Consumer.Inspect().BlockedKeys);
        Assert.Equal(poison.SequenceNumber, blocked.SequenceNumber);
        Assert.Equal(4, blocked.QueuedRecords);

        // The two records handled before the waiting one are complete (not held until the pump's batch ends): the
        // buffer counts the four others and the saved checkpoint moves up to the second record, no further.
        await WaitAsync(() => harness.Consumer.GetStatus().Buffered == 4, "the two handled records to complete");
        await WaitAsync(() => harness.Consumer.Inspect().Shards.Single().Checkpoint == put[1].SequenceNumber, "the checkpoint to cover the two handled records");

        Volatile.Write(ref fixedDownstream, true);
        await harness.WaitForAllCompleteAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(put.Select(record => record.SequenceNumber), handler.Successes.Select(call => call.Record.SequenceNumber));
        Assert.Equal(0, handler.Overlaps);
        await WaitAsync(() => harness.Consumer.Inspect().Shards.Single().Checkpoint == put[^1].SequenceNumber, "the checkpoint to cover every record");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    public async Task A_hot_key_keeps_its_order_and_the_shard_bound_when_its_pump_takes_records_in_batches(int seed)
    {
        var random = new Random(seed);
        var stream = new InMemoryStream("orders", shardCount: 1);
        int maxBuffered = 0;
        ConsumerHarness? running = null;
        var handler = new RecordingHandler
        {
            // Mostly synchronous (the pump goes through its batch without a wait), sometimes a yield or a failure.
            Behaviour = async (record, attempt, _) =>
            {
                int buffered = running!.Runtime.BufferedCount;
                int seen;
                while (buffered > (seen = Volatile.Read(ref maxBuffered)) && Interlocked.CompareExchange(ref maxBuffered, buffered, seen) != seen)
                {
                }

                await InjectedFaults.MostlySynchronousAsync(random, 20, attempt);
            },
        };
        await using ConsumerHarness harness = ConsumerHarness.Create(stream, handler, options =>
        {
            options.MaxAttempts = 3;
            options.MaxBufferedRecordsPerShard = 40;
            options.MaxBufferedRecords = 40;
            options.CheckpointInterval = TimeSpan.FromMilliseconds(50);
        });
        running = harness;
        var put = Enumerable.Range(0, 3000).Select(i => stream.Put(i % 10 == 0 ? $"cold-{i}" : "hot", "{}")).ToList();
        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync(TimeSpan.FromSeconds(60));

        InvariantChecker.Report report = InvariantChecker.Check(put, handler, harness.DeadLetters);
        Assert.Equal(0, report.DeadLettered);
        Assert.Equal(0, report.Duplicates);
        Assert.InRange(Volatile.Read(ref maxBuffered), 1, 40);
        await WaitAsync(() => harness.Consumer.Inspect().Shards.Single().Checkpoint == put[^1].SequenceNumber, "the checkpoint to cover every record");
    }

    private static async Task WaitAsync(Func<bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (!condition())
        {
            Assert.False(timeout.IsCancellationRequested, $"Timed out waiting for {what}.");
            await Task.Delay(10);
        }
    }
}
