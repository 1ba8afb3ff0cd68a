using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.Dispatching;

/// <summary>
/// A shard's ready lanes run on a few workers (ShardProcessor.Workers.cs), and a lane that ends empty hands its worker
/// the next ready lane in the same visit to the shard's lock: no record may be lost, run twice or out of its key's
/// order by that hand-off, and a handler that blocks its thread must not hold the other keys back.
/// </summary>
public sealed class ShardWorkerTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 3)]
    [InlineData(64, 11)]
    public async Task Lanes_handed_from_worker_to_worker_lose_nothing_and_keep_each_key_in_order(int maxConcurrentHandlers, int seed)
    {
        var random = new Random(seed);
        var stream = new InMemoryStream("orders", shardCount: 1);
        var handler = new RecordingHandler
        {
            // Mostly synchronous, so that lanes end empty on a worker and hand it the next one; sometimes a yield (the lane
            // resumes on its own continuation, off the worker) or a first attempt that fails (a retry back-off).
            Behaviour = (_, attempt, _) => InjectedFaults.MostlySynchronousAsync(random, 40, attempt),
        };
        await using ConsumerHarness harness = ConsumerHarness.Create(stream, handler, options =>
        {
            options.MaxAttempts = 3;
            options.MaxConcurrentHandlers = maxConcurrentHandlers;
            options.MaxBufferedRecordsPerShard = 500;
            options.MaxBufferedRecords = 500;
            options.CheckpointInterval = TimeSpan.FromMilliseconds(50);
        });

        // 20,000 records over 4,000 keys in a random order, in waves: most lanes hold one or two records and end empty,
        // and between waves every worker ends, so the next wave must start them again.
        await harness.StartAsync();
        var put = new List<StreamRecord>();
        for (int wave = 0; wave < 10; wave++)
        {
            put.AddRange(Enumerable.Range(0, 2_000).Select(_ => stream.Put($"customer-{random.Next(4_000)}", "{}")));
            await harness.WaitForAllCompleteAsync(TimeSpan.FromSeconds(60));
        }

        InvariantChecker.Report report = InvariantChecker.Check(put, handler, harness.DeadLetters);
        Assert.Equal(put.Count, report.Handled);
        Assert.Equal(0, report.DeadLettered);
        Assert.Equal(0, report.Duplicates);
        Assert.InRange(handler.MaxConcurrentCalls, 1, maxConcurrentHandlers);
        await WaitAsync(() => harness.Consumer.Inspect().Shards.Single().Checkpoint == put[^1].SequenceNumber, "the checkpoint to cover every record");
        Assert.Equal(0, harness.Runtime.BufferedCount);
    }

    [Fact]
    public async Task A_handler_that_blocks_its_thread_holds_one_worker_and_the_other_keys_go_on()
    {
        var stream = new InMemoryStream("orders", shardCount: 1);
        using var release = new ManualResetEventSlim();
        using var blocking = new ManualResetEventSlim();
        var handler = new RecordingHandler
        {
            // A synchronous call into a slow dependency: the handler never yields its thread until released.
            Behaviour = (record, _, token) =>
            {
                if (record.PartitionKey == "slow")
                {
                    blocking.Set();
                    Assert.True(release.Wait(TimeSpan.FromSeconds(60), token), "the test never released the blocked handler");
                }

                return ValueTask.CompletedTask;
            },
        };
        await using ConsumerHarness harness = ConsumerHarness.Create(stream, handler, options =>
        {
            options.MaxConcurrentHandlers = 4;
            options.CheckpointInterval = TimeSpan.FromMilliseconds(50);
        });

        StreamRecord slow = stream.Put("slow", "{}");
        await harness.StartAsync();
        Assert.True(blocking.Wait(TimeSpan.FromSeconds(30)), "the slow key's handler did not start");
        var others = Enumerable.Range(0, 2_000).Select(i => stream.Put($"customer-{i % 300}", "{}")).ToList();
        try
        {
            // Every other key's record is handled while the slow one still holds its thread (and a worker).
            await WaitAsync(() => handler.Successes.Count() >= others.Count, "the other keys' records, while one handler blocks");
            Assert.DoesNotContain(handler.Successes, call => call.Record == slow);
        }
        finally
        {
            release.Set();
        }

        await harness.WaitForAllCompleteAsync(TimeSpan.FromSeconds(30));
        InvariantChecker.Report report = InvariantChecker.Check([slow, .. others], handler, harness.DeadLetters);
        Assert.Equal(others.Count + 1, report.Handled);
    }

    private static async Task WaitAsync(Func<bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            Assert.False(timeout.IsCancellationRequested, $"Timed out waiting for {what}.");
            await Task.Delay(10);
        }
    }
}
