using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;

namespace StreamLanes.Engine.Tests.Resilience;

public sealed class ResiliencePipelinesTests
{
    private static readonly BackoffOptions Backoff = BackoffOptions.Of(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(1000));

    [Fact]
    public async Task Waits_double_up_to_the_cap_with_the_seeded_jitter_on_the_driven_clock()
    {
        var time = new SignallingFakeTime();
        var seeded = new Random(1234);
        var replay = new Random(1234);
        var waits = new ConcurrentQueue<(int Retry, TimeSpan Wait)>();
        var calls = new ConcurrentQueue<DateTimeOffset>();
        const int Failures = 7;
        var pipeline = ResiliencePipelines.UntilSuccess("test", Backoff, time, seeded.NextDouble);

        Task<int> run = pipeline.ExecuteAsync(
            (_, _) =>
            {
                calls.Enqueue(time.GetUtcNow());
                return calls.Count <= Failures ? ValueTask.FromException<int>(new IOException("down")) : ValueTask.FromResult(calls.Count);
            },
            0,
            (_, retry, wait) => waits.Enqueue((retry, wait)),
            CancellationToken.None).AsTask();

        for (int retry = 1; retry <= Failures; retry++)
        {
            TimeSpan due = await time.NextTimerAsync();
            double cap = Math.Min(1000, 100 * Math.Pow(2, retry - 1));
            TimeSpan expected = TimeSpan.FromMilliseconds(Math.Floor(cap * (0.5 + (replay.NextDouble() / 2))));
            Assert.Equal(expected, due);
            Assert.InRange(due, TimeSpan.FromMilliseconds(cap / 2), TimeSpan.FromMilliseconds(cap));

            // One tick short of the wait, the retry has not run: the wait is really waited.
            time.Advance(due - TimeSpan.FromTicks(1));
            Assert.Equal(retry, calls.Count);
            time.Advance(TimeSpan.FromTicks(1));
        }

        Assert.Equal(Failures + 1, await run.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(Enumerable.Range(1, Failures), waits.Select(w => w.Retry));
        DateTimeOffset[] at = [.. calls];
        TimeSpan[] reported = [.. waits.Select(w => w.Wait)];
        for (int i = 1; i < at.Length; i++)
        {
            Assert.Equal(reported[i - 1], at[i] - at[i - 1]);
        }

        // 100, 200, 400, 800, then capped at 1000 ms.
        Assert.All(reported.Skip(4), wait => Assert.InRange(wait, TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(1000)));
    }

    [Theory]
    [InlineData(1, 0.0, 50)]
    [InlineData(1, 0.999999, 99)]
    [InlineData(3, 0.5, 300)]
    [InlineData(5, 0.0, 500)]
    [InlineData(40, 1.0, 1000)]
    [InlineData(int.MaxValue, 0.25, 625)]
    [InlineData(2, 0.333, 133)]
    public void Jitter_draws_between_half_the_delay_and_the_delay(int retry, double random, double expectedMs)
    {
        TimeSpan wait = ResiliencePipelines.Delay(Backoff, retry, () => random);
        Assert.Equal(expectedMs, wait.TotalMilliseconds, precision: 3);
    }

    [Fact]
    public void Every_jittered_wait_lies_inside_its_bounds()
    {
        var seeded = new Random(99);
        for (int retry = 1; retry <= 12; retry++)
        {
            double cap = Math.Min(1000, 100 * Math.Pow(2, retry - 1));
            for (int i = 0; i < 200; i++)
            {
                TimeSpan wait = ResiliencePipelines.Delay(Backoff, retry, seeded.NextDouble);
                Assert.InRange(wait.TotalMilliseconds, cap / 2, cap);
            }
        }
    }

    [Fact]
    public async Task Cancellation_during_a_wait_stops_at_once_without_another_try()
    {
        var time = new SignallingFakeTime();
        int calls = 0;
        using var cancel = new CancellationTokenSource();
        var pipeline = ResiliencePipelines.UntilSuccess("test", Backoff, time, () => 0.5);

        Task run = pipeline.ExecuteAsync(
            (_, _) =>
            {
                Interlocked.Increment(ref calls);
                return ValueTask.FromException(new IOException("down"));
            },
            0,
            null,
            cancel.Token).AsTask();
        await time.NextTimerAsync();
        await cancel.CancelAsync();

        // The clock is not advanced: the wait ends because of the token alone.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(1, Volatile.Read(ref calls));
    }

    [Fact]
    public async Task A_failure_the_caller_does_not_retry_propagates_at_once()
    {
        var time = new SignallingFakeTime();
        int calls = 0;
        var pipeline = ResiliencePipelines.UntilSuccess("test", Backoff, time, () => 0.5, shouldRetry: ex => ex is IOException);

        await Assert.ThrowsAsync<InvalidDataException>(() => pipeline.ExecuteAsync(
            (_, _) =>
            {
                Interlocked.Increment(ref calls);
                return ValueTask.FromException(new InvalidDataException("poison"));
            },
            0,
            null,
            CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task A_bounded_pipeline_gives_up_after_its_retries()
    {
        var time = new SignallingFakeTime();
        int calls = 0;
        var pipeline = ResiliencePipelines.Retrying("test", 2, Backoff, time, () => 1.0);

        Task run = pipeline.ExecuteAsync(
            (_, _) =>
            {
                Interlocked.Increment(ref calls);
                return ValueTask.FromException(new IOException("down"));
            },
            0,
            null,
            CancellationToken.None).AsTask();
        time.Advance(await time.NextTimerAsync());
        time.Advance(await time.NextTimerAsync());

        await Assert.ThrowsAsync<IOException>(() => run.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(3, calls);
    }

    [Fact]
    public async Task A_poll_waits_growing_intervals_until_the_result_is_done()
    {
        var time = new SignallingFakeTime();
        int polls = 0;
        ValueTask<string> poll = ResiliencePipelines.PollUntilAsync(
            "test",
            Backoff,
            time,
            _ => Task.FromResult(Interlocked.Increment(ref polls) < 4 ? "CREATING" : "ACTIVE"),
            static status => status == "ACTIVE",
            CancellationToken.None);
        Task<string> run = poll.AsTask();
        var dues = new List<TimeSpan>();
        for (int i = 0; i < 3; i++)
        {
            TimeSpan due = await time.NextTimerAsync();
            dues.Add(due);
            time.Advance(due);
        }

        Assert.Equal("ACTIVE", await run.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(4, polls);
        Assert.InRange(dues[0].TotalMilliseconds, 50, 100);
        Assert.InRange(dues[1].TotalMilliseconds, 100, 200);
        Assert.InRange(dues[2].TotalMilliseconds, 200, 400);
    }

    [Fact]
    public async Task A_dead_letter_sink_down_for_five_writes_blocks_the_record_then_writes_it_whole_once()
    {
        var time = new SignallingFakeTime();
        var logs = new CollectingLoggerProvider();
        using var factory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        var sink = new FlakySink { Failing = true };
        var options = new StreamConsumerOptions { SinkRetry = BackoffOptions.Of(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(4)) };
        var counters = new ConsumerCounters("orders", time);
        var writer = new DeadLetterWriter("orders", options, sink, time, factory.CreateLogger("test"), counters, new RecordTracing("orders", counters, time), new Random(7).NextDouble);
        byte[] payload = [1, 2, 3, 4, 5, 0, 255];
        var record = new StreamRecord(SourceKind.InMemory, "s", "shard-0", SequenceNumber.FromInteger(42), "key-a", payload, time.GetUtcNow());
        var lane = new KeyLane();

        Task write = writer.WriteAsync(lane, record, DeadLetterReason.RetriesExhausted, [], null, CancellationToken.None).AsTask();
        var waits = new List<TimeSpan>();
        for (int failure = 1; failure <= 5; failure++)
        {
            TimeSpan due = await time.NextTimerAsync();
            Assert.Equal(failure, sink.Attempts);
            Assert.False(write.IsCompleted); // blocked, not skipped
            Assert.Equal(failure, counters.ConsecutiveSinkFailures);
            waits.Add(due);
            if (failure == 5)
            {
                sink.Failing = false;
            }

            time.Advance(due);
        }

        await write.WaitAsync(TimeSpan.FromSeconds(10));
        DeadLetterEnvelope stored = Assert.Single(sink.Inner.Envelopes);
        Assert.Equal(payload, stored.Payload.ToArray());
        Assert.Equal("key-a", stored.PartitionKey);
        Assert.Equal(6, sink.Attempts);
        Assert.Equal(1, counters.DeadLettered);
        Assert.Equal(0, counters.ConsecutiveSinkFailures);
        Assert.True(lane.Blocked);

        // 1, 2, 4, then capped at 4 s, each in the upper half of its delay.
        double[] caps = [1, 2, 4, 4, 4];
        for (int i = 0; i < caps.Length; i++)
        {
            Assert.InRange(waits[i].TotalSeconds, caps[i] / 2, caps[i]);
        }

        (string _, LogLevel level, EventId id, string message)[] failures = [.. logs.Entries.Where(e => e.Id.Id == 7)];
        Assert.Equal(5, failures.Length);
        Assert.All(failures, f => Assert.Equal(LogLevel.Error, f.level));
        Assert.Contains("(5 consecutive failures)", failures[^1].message, StringComparison.Ordinal);
        Assert.Single(logs.Entries, e => e.Id.Id == 6);
    }
}
