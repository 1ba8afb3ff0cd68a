using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;

namespace StreamLanes.Engine.Tests.Redrive;

public sealed class ReplayTests
{
    [Fact]
    public async Task A_parked_key_replays_through_the_handler_in_order_and_is_released_only_after_its_backlog_succeeded()
    {
        var stream = new InMemoryStream("orders");
        bool downstreamBroken = true;
        var handler = new RecordingHandler
        {
            Behaviour = (record, _, _) => downstreamBroken && record.PartitionKey == "poison"
                ? ValueTask.FromException(new InvalidOperationException("downstream broken"))
                : ValueTask.CompletedTask,
        };
        await using var harness = ConsumerHarness.Create(stream, handler, options =>
        {
            options.MaxAttempts = 2;
            options.FailureMode = KeyFailureMode.ParkKey;
        });
        var poison = new List<StreamRecord>();
        for (int i = 0; i < 4; i++)
        {
            poison.Add(stream.Put("poison", $"{{\"n\":{i}}}"));
            stream.Put($"ok-{i}", "{}");
        }

        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();
        Assert.Equal(4, harness.DeadLetters.Count);
        Assert.True(harness.Consumer.ParkedKeys.ContainsKey("poison"));
        var store = (IDeadLetterStore)harness.Sink;

        // Still broken: the first fails again (its history grows), the rest wait behind it, and the key stays parked.
        DeadLetterRedriveReport failed = await harness.Consumer.ReplayDeadLettersAsync(store);
        Assert.Equal(1, failed.Counts[DeadLetterOutcome.Failed]);
        Assert.Equal(3, failed.Counts[DeadLetterOutcome.SkippedBehindFailure]);
        Assert.True(harness.Consumer.ParkedKeys.ContainsKey("poison"));
        DeadLetterEnvelope first = harness.DeadLetters.Single(e => e.SequenceNumber == poison[0].SequenceNumber);
        Assert.Equal(4, first.Attempts.Count);
        Assert.Equal([1, 2, 3, 4], first.Attempts.Select(a => a.Attempt));

        // Dry run: nothing is called, nothing changes.
        int callsBefore = handler.Calls.Count;
        DeadLetterRedriveReport dry = await harness.Consumer.ReplayDeadLettersAsync(store, new DeadLetterRedriveOptions { DryRun = true });
        Assert.Equal(4, dry.Counts[DeadLetterOutcome.DryRun]);
        Assert.Equal(callsBefore, handler.Calls.Count);

        downstreamBroken = false;
        DeadLetterRedriveReport replayed = await harness.Consumer.ReplayDeadLettersAsync(store);
        Assert.Equal(4, replayed.Counts[DeadLetterOutcome.Replayed]);
        Assert.Equal(["poison"], replayed.ReleasedKeys);
        Assert.Empty(harness.DeadLetters);
        Assert.False(harness.Consumer.ParkedKeys.ContainsKey("poison"));
        Assert.Equal(
            poison.Select(r => r.SequenceNumber),
            handler.Successes.Where(c => c.Record.PartitionKey == "poison").Select(c => c.Record.SequenceNumber));
        Assert.Equal(0, handler.Overlaps);

        // Released: the key's next record is handled live again.
        StreamRecord next = stream.Put("poison", "{\"n\":99}");
        await harness.WaitUntilAsync(_ => handler.Successes.Any(c => c.Record.Position == next.Position));
    }

    [Fact]
    public async Task A_replay_for_another_consumer_is_refused()
    {
        var stream = new InMemoryStream("orders");
        await using var harness = ConsumerHarness.Create(stream, new RecordingHandler());
        await Assert.ThrowsAsync<ArgumentException>(() => harness.Consumer.ReplayDeadLettersAsync(
            (IDeadLetterStore)harness.Sink,
            new DeadLetterRedriveOptions { Filter = new DeadLetterFilter { Consumer = "billing" } }));
    }
}
