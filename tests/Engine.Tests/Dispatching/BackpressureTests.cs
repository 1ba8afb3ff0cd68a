using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.Dispatching;

public sealed class BackpressureTests
{
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
