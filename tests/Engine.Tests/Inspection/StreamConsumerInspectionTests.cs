using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.Inspection;

public sealed class StreamConsumerInspectionTests
{
    [Fact]
    public async Task A_retrying_key_is_listed_as_blocked_with_its_latest_error_and_attempts_and_leaves_the_list_once_fixed()
    {
        var stream = new InMemoryStream("orders-stream", shardCount: 2);
        var handler = new RecordingHandler();
        bool fixedDownstream = false;
        handler.Behaviour = (record, attempt, _) => record.PartitionKey == "poison" && !Volatile.Read(ref fixedDownstream)
            ? throw new InvalidOperationException($"attempt {attempt} of {record.PartitionKey} rejected")
            : ValueTask.CompletedTask;
        await using ConsumerHarness harness = ConsumerHarness.Create(stream, handler, o => o.FailureMode = KeyFailureMode.RetryUntilSuccess);
        await harness.StartAsync();
        StreamRecord poison = stream.Put("poison", "{}");
        stream.Put("poison", "{}");
        for (int i = 0; i < 50; i++)
        {
            stream.Put($"healthy-{i}", "{}");
        }

        await WaitAsync(() => harness.Consumer.Inspect().BlockedKeys is [{ Attempts: >= 3 }] && harness.Consumer.GetStatus().Handled == 50, "the poison key blocked after 3 attempts, every other key handled");
        StreamConsumerDetails details = harness.Consumer.Inspect();

        BlockedKeyDetails blocked = Assert.Single(details.BlockedKeys);
        Assert.Equal("poison", blocked.Key);
        Assert.Equal(poison.ShardId, blocked.ShardId);
        Assert.Equal(poison.SequenceNumber, blocked.SequenceNumber);
        Assert.Equal(2, blocked.QueuedRecords);
        Assert.Equal(typeof(InvalidOperationException).FullName, blocked.LatestExceptionType);
        Assert.Equal($"attempt {blocked.Attempts} of poison rejected", blocked.LatestError);
        Assert.Equal(SourceKind.InMemory, details.SourceKind);
        Assert.Equal("orders-stream", details.StreamName);
        Assert.Null(details.WorkerId);
        Assert.Equal(2, details.Shards.Count);
        ShardDetails shard = details.Shards.Single(s => s.ShardId == poison.ShardId);
        Assert.Equal((1, 1, 2), (shard.ActiveLanes, shard.BlockedLanes, shard.Buffered));
        Assert.Equal(0, details.Shards.Single(s => s.ShardId != poison.ShardId).BlockedLanes);

        Volatile.Write(ref fixedDownstream, true);
        await WaitAsync(() => harness.Consumer.Inspect() is { BlockedKeys.Count: 0 } d && d.Shards.All(s => s.ActiveLanes == 0) && harness.Consumer.GetStatus().Handled == 52, "the fixed key to drain");
    }

    [Fact]
    public async Task Parked_keys_are_listed_with_the_dead_letter_that_parked_them_and_the_list_is_capped()
    {
        var stream = new InMemoryStream("orders-stream");
        var handler = new RecordingHandler { Behaviour = static (record, _, _) => throw new InvalidOperationException("rejected") };
        await using ConsumerHarness harness = ConsumerHarness.Create(stream, handler, o =>
        {
            o.FailureMode = KeyFailureMode.ParkKey;
            o.MaxAttempts = 1;
        });
        await harness.StartAsync();
        StreamRecord[] firsts = [.. Enumerable.Range(0, 5).Select(i => stream.Put($"key-{i}", "{}"))];

        await WaitAsync(() => harness.Consumer.ParkedKeys.Count == 5, "5 parked keys");
        StreamConsumerDetails details = harness.Consumer.Inspect(maxKeys: 3);

        Assert.Equal(5, details.ParkedKeyCount);
        Assert.Equal(
            firsts.Take(3).Select(r => new ParkedKeyDetails(r.PartitionKey, r.SequenceNumber) { ShardId = r.ShardId, DeadLetterId = harness.DeadLetters.Single(d => d.SequenceNumber == r.SequenceNumber).Id }),
            details.ParkedKeys);
        Assert.Empty(details.BlockedKeys);
        Assert.Throws<ArgumentOutOfRangeException>(() => harness.Consumer.Inspect(maxKeys: 0));
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
