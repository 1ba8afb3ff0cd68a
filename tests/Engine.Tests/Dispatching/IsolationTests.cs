using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.Dispatching;

public sealed class IsolationTests
{
    [Theory]
    [InlineData(64)]
    [InlineData(1)] // one slot: the poison key's back-off must not hold it
    public async Task Other_keys_complete_while_a_poison_key_retries(int maxConcurrentHandlers)
    {
        var stream = new InMemoryStream("orders", shardCount: 1);
        var handler = new RecordingHandler
        {
            // Only the poison key's first record ("{}") fails; its follower succeeds once it may run.
            Behaviour = (record, attempt, _) => record.PartitionKey == "poison" && record.Data.Length == 2
                ? ValueTask.FromException(new InvalidOperationException($"poison attempt {attempt}"))
                : ValueTask.CompletedTask,
        };
        await using var harness = ConsumerHarness.Create(stream, handler, options =>
        {
            options.MaxAttempts = 5;
            options.Retry.InitialDelay = TimeSpan.FromMilliseconds(200);
            options.Retry.MaxDelay = TimeSpan.FromSeconds(1);
            options.RetryBackoff = RetryBackoff.Constant;
            options.RetryJitter = false;
            options.MaxConcurrentHandlers = maxConcurrentHandlers;
        });

        var put = new List<StreamRecord> { stream.Put("poison", "{}") };
        for (int i = 0; i < 1000; i++)
        {
            put.Add(stream.Put($"key-{i % 100}", "{}"));
        }

        StreamRecord poisonFollower = stream.Put("poison", "{\"after\":true}");
        put.Add(poisonFollower);
        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();

        var poisonCalls = handler.Calls.Where(call => call.Record.PartitionKey == "poison" && call.Record.Position == put[0].Position).OrderBy(call => call.StartedTicks).ToList();
        Assert.Equal(5, poisonCalls.Count);
        Assert.True(poisonCalls[^1].StartedTicks - poisonCalls[0].StartedTicks >= TimeSpan.FromMilliseconds(790).Ticks * System.Diagnostics.Stopwatch.Frequency / TimeSpan.TicksPerSecond);

        // Every healthy record finished before the poison record's last attempt even started.
        long lastPoisonAttempt = poisonCalls[^1].StartedTicks;
        var healthy = handler.Successes.Where(call => call.Record.PartitionKey != "poison").ToList();
        Assert.Equal(1000, healthy.Count);
        Assert.All(healthy, call => Assert.True(call.EndedTicks < lastPoisonAttempt, $"{call.Record} finished after the poison key's last attempt"));

        // The poison key's next record waited for the dead letter.
        HandlerCall follower = handler.Successes.Single(call => call.Record.Position == poisonFollower.Position);
        Assert.True(follower.StartedTicks > poisonCalls[^1].EndedTicks);
        Assert.Single(harness.DeadLetters);
        InvariantChecker.Check(put, handler, harness.DeadLetters);
    }

    [Fact]
    public async Task The_global_cap_bounds_concurrent_handlers()
    {
        var stream = new InMemoryStream("orders", shardCount: 2);
        var handler = new RecordingHandler { Behaviour = static async (_, _, token) => await Task.Delay(2, token) };
        await using var harness = ConsumerHarness.Create(stream, handler, options => options.MaxConcurrentHandlers = 3);
        var put = Enumerable.Range(0, 300).Select(i => stream.Put($"key-{i % 100}", "{}")).ToList();
        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();
        Assert.Equal(3, handler.MaxConcurrentCalls);
        InvariantChecker.Check(put, handler, harness.DeadLetters);
    }

    [Fact]
    public async Task The_checker_detects_order_violations_when_ordering_is_given_up()
    {
        // Guards the guard: with one lane per record, calls of one key overlap, and the checker must say so.
        var stream = new InMemoryStream("orders", shardCount: 1);
        var handler = new RecordingHandler { Behaviour = static async (_, _, token) => await Task.Delay(5, token) };
        await using var harness = ConsumerHarness.Create(stream, handler, build: builder => builder.WithLaneKey(record => record.SequenceNumber));
        var put = Enumerable.Range(0, 200).Select(i => stream.Put($"key-{i % 2}", "{}")).ToList();
        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => InvariantChecker.Check(put, handler, harness.DeadLetters));
    }
}
