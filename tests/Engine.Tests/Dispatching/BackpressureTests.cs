using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.Dispatching;

public sealed class BackpressureTests
{
    [Fact]
    public async Task Reading_pauses_at_the_shard_bound_and_resumes_when_records_complete()
    {
        var stream = new InMemoryStream("orders", shardCount: 1);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new RecordingHandler { Behaviour = async (_, _, token) => await gate.Task.WaitAsync(token) };
        await using var harness = ConsumerHarness.Create(stream, handler, options =>
        {
            options.MaxBufferedRecordsPerShard = 50;
            options.MaxBufferedRecords = 50;
        });
        var put = Enumerable.Range(0, 500).Select(i => stream.Put($"key-{i % 20}", "{}")).ToList();
        await harness.StartAsync();

        // Observed, not slept on: the reader tried to enqueue record 51 and is parked on the shard's waiter. Only a
        // completion wakes it, and the gate holds every handler, so nothing more can be read while we assert.
        await harness.WaitUntilAsync(status => status.Buffered == 50 && harness.Runtime.ReaderWaitsForCapacity);
        StreamConsumerStatus blocked = harness.Consumer.GetStatus();
        Assert.Equal(50, blocked.Received);
        Assert.Equal(50, blocked.Buffered);
        Assert.Equal(20, blocked.ActiveLanes);

        gate.SetResult();
        await harness.WaitForAllCompleteAsync();
        InvariantChecker.Check(put, handler, harness.DeadLetters);
    }

    [Fact]
    public async Task The_consumer_wide_bound_applies_across_shards()
    {
        var stream = new InMemoryStream("orders", shardCount: 4);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new RecordingHandler { Behaviour = async (_, _, token) => await gate.Task.WaitAsync(token) };
        await using var harness = ConsumerHarness.Create(stream, handler, options =>
        {
            options.MaxBufferedRecordsPerShard = 100;
            options.MaxBufferedRecords = 120;
        });
        var put = Enumerable.Range(0, 2000).Select(i => stream.Put($"key-{i % 400}", "{}")).ToList();
        await harness.StartAsync();
        // A reader parked on the consumer-wide bound; the others can only fail to reserve (atomically) until a handler
        // completes, which the gate prevents.
        await harness.WaitUntilAsync(status => status.Buffered >= 120 && harness.Runtime.ReaderWaitsForCapacity);
        Assert.Equal(120, harness.Consumer.GetStatus().Buffered);
        Assert.Equal(120, harness.Consumer.GetStatus().Received);
        gate.SetResult();
        await harness.WaitForAllCompleteAsync();
        InvariantChecker.Check(put, handler, harness.DeadLetters);
    }

    [Fact]
    public async Task Idle_keys_cost_nothing_once_their_lanes_drain()
    {
        var stream = new InMemoryStream("orders", shardCount: 2);
        var handler = new RecordingHandler();
        await using var harness = ConsumerHarness.Create(stream, handler);
        for (int i = 0; i < 20_000; i++)
        {
            stream.Put($"key-{i}", "{}");
        }

        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();
        StreamConsumerStatus status = harness.Consumer.GetStatus();
        Assert.Equal(0, status.ActiveLanes);
        Assert.Equal(0, status.Buffered);
    }

    // Readers block on the shard bound (10) and on the consumer's total (25 < 4 shards × 10) over and over; each must
    // be woken again, by its own shard's completions or by the total draining, until every record is complete.
    [Fact]
    public async Task Readers_blocked_by_either_bound_resume_until_every_record_completes()
    {
        var stream = new InMemoryStream("orders", shardCount: 4);
        var handler = new RecordingHandler();
        var random = new Random(7);
        handler.Behaviour = async (_, _, token) =>
        {
            int delay;
            lock (random)
            {
                delay = random.Next(3);
            }

            if (delay > 0)
            {
                await Task.Delay(delay, token);
            }
        };

        await using var harness = ConsumerHarness.Create(stream, handler, options =>
        {
            options.MaxConcurrentHandlers = 8;
            options.MaxBufferedRecordsPerShard = 10;
            options.MaxBufferedRecords = 25;
        });

        var put = new List<StreamRecord>();
        for (int i = 0; i < 3000; i++)
        {
            put.Add(stream.Put($"key-{i % 50}", $"{{\"n\":{i}}}"));
        }

        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync(TimeSpan.FromSeconds(60));

        InvariantChecker.Report report = InvariantChecker.Check(put, handler, harness.DeadLetters);
        Assert.Equal(put.Count, report.Handled);
        Assert.Equal(0, report.Duplicates);
    }

    // One shard, total bound far away: the reader waits for a quarter of the shard's buffer (the case that used to
    // wake the reader at every completion) and still reads the whole shard.
    [Fact]
    public async Task A_full_shard_resumes_once_a_quarter_of_its_buffer_is_free()
    {
        var stream = new InMemoryStream("orders", shardCount: 1);
        var handler = new RecordingHandler();
        await using var harness = ConsumerHarness.Create(stream, handler, options =>
        {
            options.MaxBufferedRecordsPerShard = 40;
            options.MaxBufferedRecords = 100_000;
        });

        var put = new List<StreamRecord>();
        for (int i = 0; i < 5000; i++)
        {
            put.Add(stream.Put($"key-{i % 7}", $"{{\"n\":{i}}}"));
        }

        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync(TimeSpan.FromSeconds(60));

        InvariantChecker.Report report = InvariantChecker.Check(put, handler, harness.DeadLetters);
        Assert.Equal(put.Count, report.Handled);
        Assert.Equal(0, report.Duplicates);
    }
}
