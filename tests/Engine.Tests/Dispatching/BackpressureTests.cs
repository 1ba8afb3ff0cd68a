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

        await harness.WaitUntilAsync(status => status.Buffered == 50);
        await Task.Delay(200);
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
        await harness.WaitUntilAsync(status => status.Buffered >= 120);
        await Task.Delay(200);
        Assert.Equal(120, harness.Consumer.GetStatus().Buffered);
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
}
