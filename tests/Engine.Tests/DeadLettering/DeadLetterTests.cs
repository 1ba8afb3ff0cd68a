using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;

namespace StreamLanes.Engine.Tests.DeadLettering;

public sealed class DeadLetterTests
{
    [Fact]
    public async Task The_envelope_holds_the_exact_bytes_the_position_every_attempt_and_the_reason()
    {
        var stream = new InMemoryStream("payments", shardCount: 3);
        byte[] payload = [0x00, 0xFF, 0x10, 0x7B, 0x22, 0xC3, 0x28];
        var handler = new RecordingHandler
        {
            Behaviour = static (record, attempt, _) => record.PartitionKey == "bad"
                ? ValueTask.FromException(new TimeoutException($"downstream timeout on attempt {attempt}"))
                : ValueTask.CompletedTask,
        };
        await using var harness = ConsumerHarness.Create(stream, handler, options => options.MaxAttempts = 3);
        stream.Put("good", "{}");
        StreamRecord bad = stream.Put("bad", payload, new Dictionary<string, string> { ["source"] = "test" });
        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();

        DeadLetterEnvelope letter = Assert.Single(harness.DeadLetters);
        Assert.Equal(payload, letter.Payload.ToArray());
        Assert.Equal("bad", letter.PartitionKey);
        Assert.Equal(bad.ShardId, letter.Shard);
        Assert.Equal(bad.SequenceNumber, letter.SequenceNumber);
        Assert.Equal("payments", letter.Stream);
        Assert.Equal(ConsumerHarness.ConsumerName, letter.Consumer);
        Assert.Equal(SourceKind.InMemory, letter.SourceKind);
        Assert.Equal(bad.ArrivalTime, letter.ArrivalTime);
        Assert.Equal("test", letter.Attributes["source"]);
        Assert.Equal(DeadLetterReason.RetriesExhausted, letter.Reason);
        Assert.Equal([1, 2, 3], letter.Attempts.Select(a => a.Attempt));
        Assert.All(letter.Attempts, a => Assert.Equal(typeof(TimeoutException).FullName, a.ExceptionType));
        Assert.Equal(["downstream timeout on attempt 1", "downstream timeout on attempt 2", "downstream timeout on attempt 3"], letter.Attempts.Select(a => a.Message));
        Assert.All(letter.Attempts, a => Assert.True(a.FailedAt >= a.StartedAt));
        Assert.True(letter.Attempts[1].StartedAt >= letter.Attempts[0].FailedAt);
        Assert.True(letter.DeadLetteredAt >= letter.Attempts[^1].FailedAt);
    }

    [Fact]
    public async Task An_undeserializable_payload_is_dead_lettered_at_once_with_its_raw_bytes()
    {
        var stream = new InMemoryStream("orders");
        var sink = new InMemoryDeadLetterSink();
        var handler = new OrderHandler();
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(handler);
        builder.Services.AddStreamConsumer<OrderHandler>("orders", options => options.MaxAttempts = 5)
            .FromInMemory(stream).UseInMemoryCheckpoints().UseDeadLetterSink(sink);
        using IHost host = builder.Build();

        stream.Put("c1", "{\"orderId\":1,\"customer\":\"ann\"}");
        byte[] garbage = Encoding.UTF8.GetBytes("{\"orderId\": not json");
        stream.Put("c1", garbage);
        stream.Put("c1", "null");
        stream.Put("c1", "{\"orderId\":2,\"customer\":\"ann\"}");
        await host.StartAsync();
        IStreamConsumer consumer = host.Services.GetRequiredKeyedService<IStreamConsumer>("orders");
        await WaitAsync(() => consumer.GetStatus() is { Handled: 2, DeadLettered: 2 });
        await host.StopAsync();

        Assert.Equal([1, 2], handler.Received.Select(order => order.OrderId));
        DeadLetterEnvelope[] letters = [.. sink.Envelopes];
        Assert.Equal(garbage, letters[0].Payload.ToArray());
        Assert.All(letters, letter => Assert.Equal(DeadLetterReason.NonRetryable, letter.Reason));
        Assert.All(letters, letter => Assert.Equal(typeof(PayloadDeserializationException).FullName, Assert.Single(letter.Attempts).ExceptionType));
        Assert.Contains("Order", letters[0].Attempts[0].Message);
        Assert.Contains("null", letters[1].Attempts[0].Message);
    }

    [Fact]
    public async Task A_failing_sink_blocks_only_its_key_holds_the_checkpoint_and_loses_nothing()
    {
        var stream = new InMemoryStream("orders", shardCount: 1);
        var sink = new FlakySink { Failing = true };
        var checkpoints = new InMemoryCheckpointStore();
        var handler = new RecordingHandler
        {
            Behaviour = static (record, _, _) => record.PartitionKey == "poison" ? ValueTask.FromException(new InvalidOperationException("boom")) : ValueTask.CompletedTask,
        };
        await using var harness = ConsumerHarness.Create(stream, handler, options => options.MaxAttempts = 2, checkpoints: checkpoints, sink: sink);
        var put = new List<StreamRecord>();
        put.AddRange(Enumerable.Range(0, 10).Select(i => stream.Put($"key-{i}", "{}")));
        StreamRecord poison = stream.Put("poison", "{\"p\":1}");
        put.Add(poison);
        StreamRecord poisonFollower = stream.Put("poison", "{\"p\":2}");
        put.Add(poisonFollower);
        put.AddRange(Enumerable.Range(0, 500).Select(i => stream.Put($"key-{i % 50}", "{}")));
        await harness.StartAsync();

        // While the sink fails: every other key flows, the poison key waits, and the checkpoint stops before it.
        await harness.WaitUntilAsync(status => status.Handled == 510 && sink.Attempts >= 5);
        var key = new CheckpointKey(ConsumerHarness.ConsumerName, "orders", stream.ShardIds[0]);
        // Several checkpoint rounds ran in this state (counted, not slept on): none may pass the poison record.
        long rounds = harness.Runtime.CheckpointRounds;
        await harness.WaitUntilAsync(_ => harness.Runtime.CheckpointRounds >= rounds + 3);
        SequenceNumber held = await checkpoints.GetAsync(key, default);
        Assert.True(held < poison.Position, $"checkpoint {held} passed the unwritten dead letter {poison.Position}");
        Assert.Equal(SequenceNumber.FromInteger(10), held);
        Assert.DoesNotContain(handler.Calls, call => call.Record.Position == poisonFollower.Position);
        Assert.Equal(1, harness.Consumer.GetStatus().BlockedLanes);

        sink.Failing = false;
        await harness.WaitForAllCompleteAsync();
        await harness.WaitUntilAsync(_ => checkpoints.Checkpoints.TryGetValue(key, out SequenceNumber saved) && saved == put.Max(r => r.Position));
        // Both poison records fail; their dead letters are written once each, in order, once the sink is back.
        DeadLetterEnvelope[] letters = [.. sink.Inner.Envelopes];
        Assert.Equal([poison.SequenceNumber, poisonFollower.SequenceNumber], letters.Select(letter => letter.SequenceNumber));
        Assert.Equal(poison.Data.ToArray(), letters[0].Payload.ToArray());
        InvariantChecker.Check(put, handler, sink.Inner.Envelopes);
        Assert.Equal(0, harness.Consumer.GetStatus().BlockedLanes);
    }

    [Fact]
    public async Task A_partition_key_that_is_not_valid_unicode_is_kept_exactly_in_the_dead_letter_file()
    {
        string badKey = "customer-\uD800-\uDFFF-end"; // lone surrogates: not encodable as UTF-8
        var stream = new InMemoryStream("orders");
        string file = Path.Combine(Path.GetTempPath(), "streamlanes-tests", Guid.NewGuid().ToString("N"), "dead-letters.jsonl");
        var handler = new RecordingHandler { Behaviour = static (_, _, _) => ValueTask.FromException(new InvalidOperationException("down")) };
        await using (var sink = new JsonLinesDeadLetterSink(file))
        {
            await using var harness = ConsumerHarness.Create(stream, handler, options => options.MaxAttempts = 1, sink: sink);
            stream.Put(badKey, new byte[] { 0xC3, 0x28 });
            stream.Put(badKey, "{}");
            await harness.StartAsync();
            await harness.WaitForAllCompleteAsync();
        }

        IReadOnlyList<DeadLetterEnvelope> letters = await JsonLinesDeadLetterSink.ReadAllAsync(file);
        Assert.Equal(2, letters.Count);
        Assert.All(letters, letter => Assert.Equal(badKey, letter.PartitionKey));
        Assert.Equal(new byte[] { 0xC3, 0x28 }, letters[0].Payload.ToArray());
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    private static async Task WaitAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (!condition())
        {
            await Task.Delay(5, timeout.Token);
        }
    }
}
