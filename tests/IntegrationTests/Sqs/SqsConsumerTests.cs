using System.Diagnostics;
using System.Text;
using System.Text.Json;
using StreamLanes.Aws;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.Sinks;
using StreamLanes.TestInfrastructure;
using Xunit.Abstractions;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Sqs;

[Collection(EmulatorCollections.Sqs)]
public sealed class SqsConsumerTests(SqsEmulatorFixture emulator, ITestOutputHelper output) : IDisposable
{
    private readonly SqsClient _client = emulator.CreateSqsClient();

    public void Dispose() => _client.Dispose();

    private sealed record Body(string Group, int Index);

    private static Body Parse(ReadOnlyMemory<byte> data) => JsonSerializer.Deserialize<Body>(data.Span, JsonSerializerOptions.Web)!;

    private static string Id(Body body) => $"{body.Group}/{body.Index}";

    private async Task<string> CreateQueueAsync(bool fifo, int visibilitySeconds = 30)
    {
        string name = EmulatorFixture.UniqueName("orders") + (fifo ? ".fifo" : "");
        var attributes = new Dictionary<string, string> { [SqsAttributeNames.VisibilityTimeout] = visibilitySeconds.ToString() };
        if (fifo)
        {
            attributes[SqsAttributeNames.FifoQueue] = "true";
            attributes[SqsAttributeNames.ContentBasedDeduplication] = "true";
        }

        return await _client.CreateQueueAsync(name, attributes);
    }

    /// <summary>Sends messages in order, in batches of 10; FIFO queues get the group as MessageGroupId, standard ones as a "tenant" attribute.</summary>
    private async Task<List<Body>> SendAsync(string queueUrl, bool fifo, int count, int groups, int seed = 1)
    {
        var random = new Random(seed);
        var next = new Dictionary<string, int>();
        var sent = new List<Body>();
        for (int i = 0; i < count; i++)
        {
            string group = $"g-{random.Next(groups)}";
            next[group] = next.GetValueOrDefault(group) + 1;
            sent.Add(new Body(group, next[group]));
        }

        foreach (Body[] chunk in sent.Chunk(10))
        {
            SqsSendMessageBatchResponse response = await _client.SendMessageBatchAsync(queueUrl, [.. chunk.Select((body, i) => new SqsSendMessageBatchEntry
            {
                Id = i.ToString(),
                MessageBody = JsonSerializer.Serialize(body, JsonSerializerOptions.Web),
                MessageGroupId = fifo ? body.Group : null,
                MessageAttributes = new Dictionary<string, SqsMessageAttributeValue> { ["tenant"] = new() { DataType = "String", StringValue = body.Group } },
            })]);
            Assert.Empty(response.Failed);
        }

        return sent;
    }

    private static HashSet<string> Done(params SqsWorker[] workers)
        => workers.SelectMany(w => w.Handler.Successes.Select(c => Id(Parse(c.Record.Data)))
            .Concat(w.DeadLetters.Envelopes.Select(l => Id(Parse(l.Payload))))).ToHashSet();

    /// <summary>Per group, successful calls in send order (the poison excepted), and never two calls of a group at once.</summary>
    private static void AssertGroupOrder(RecordingHandler handler)
    {
        Assert.Equal(0, handler.Overlaps);
        foreach (IGrouping<string, HandlerCall> group in handler.Calls.GroupBy(c => c.Record.PartitionKey))
        {
            var calls = group.OrderBy(c => c.StartedTicks).ToList();
            for (int i = 1; i < calls.Count; i++)
            {
                Assert.True(calls[i].StartedTicks >= calls[i - 1].EndedTicks, $"group {group.Key}: calls overlap");
                Assert.True(Parse(calls[i].Record.Data).Index >= Parse(calls[i - 1].Record.Data).Index, $"group {group.Key}: {Parse(calls[i].Record.Data).Index} after {Parse(calls[i - 1].Record.Data).Index}");
            }
        }
    }

    private async Task<(int Visible, int InFlight)> CountAsync(string queueUrl)
    {
        IReadOnlyDictionary<string, string> attributes = await _client.GetQueueAttributesAsync(
            queueUrl, [SqsAttributeNames.ApproximateNumberOfMessages, SqsAttributeNames.ApproximateNumberOfMessagesNotVisible]);
        return (int.Parse(attributes[SqsAttributeNames.ApproximateNumberOfMessages]), int.Parse(attributes[SqsAttributeNames.ApproximateNumberOfMessagesNotVisible]));
    }

    [Fact]
    public async Task Fifo_groups_are_handled_in_order_under_concurrency_and_the_poison_message_is_dead_lettered_within_its_backoff_and_deleted()
    {
        string queue = await CreateQueueAsync(fifo: true, visibilitySeconds: 30);
        List<Body> sent = await SendAsync(queue, fifo: true, count: 400, groups: 25);
        Body poison = sent.First(b => b.Group == "g-7" && b.Index == 3);
        await using SqsWorker worker = SqsWorker.Create(emulator, queue);
        worker.Handler.Behaviour = async (record, _, token) =>
        {
            Body body = Parse(record.Data);
            if (body == poison)
            {
                throw new InvalidOperationException("poison");
            }

            if (body.Index % 4 == 0)
            {
                await Task.Delay(2, token);
            }
        };

        await worker.StartAsync();
        await WaitUntilAsync(() => Done(worker).Count == sent.Count, TimeSpan.FromSeconds(90), () => $"{Done(worker).Count}/{sent.Count} {worker.Consumer.GetStatus()}");
        await worker.StopAsync();

        // Nothing lost; each message handled exactly once (none redelivered: deletes and heartbeats kept up).
        Assert.Equal(sent.Select(Id).ToHashSet(), Done(worker));
        Assert.Equal(sent.Count - 1, worker.Handler.Successes.Count());
        AssertGroupOrder(worker.Handler);

        // The poison message: dead-lettered with its exact body and attributes, after three attempts, within its
        // back-off (not a 30 s visibility timeout), and the group's next message handled right after.
        DeadLetterEnvelope letter = Assert.Single(worker.DeadLetters.Envelopes);
        Assert.Equal(JsonSerializer.Serialize(poison, JsonSerializerOptions.Web), Encoding.UTF8.GetString(letter.Payload.Span));
        Assert.Equal("g-7", letter.PartitionKey);
        Assert.Equal(SourceKind.Sqs, letter.SourceKind);
        Assert.Equal("g-7", letter.Attributes["tenant"]);
        Assert.Equal("g-7", letter.Attributes["Sqs.MessageGroupId"]);
        Assert.False(string.IsNullOrEmpty(letter.Attributes["Sqs.MessageId"]));
        Assert.Equal(DeadLetterReason.RetriesExhausted, letter.Reason);
        Assert.Equal(3, letter.Attempts.Count);
        TimeSpan toDeadLetter = letter.DeadLetteredAt - letter.Attempts[0].StartedAt;
        // The back-off totals well under a second; the bound leaves room for a loaded CI machine and stays far below
        // the 30 s visibility timeout a redelivery would need.
        Assert.True(toDeadLetter < TimeSpan.FromSeconds(10), $"dead-lettered {toDeadLetter} after the first attempt");

        HandlerCall next = worker.Handler.Successes.Where(c => c.Record.PartitionKey == "g-7" && Parse(c.Record.Data).Index == 4).Single();
        HandlerCall lastPoison = worker.Handler.Calls.Where(c => Parse(c.Record.Data) == poison).MaxBy(c => c.EndedTicks)!;
        TimeSpan nextAfter = Stopwatch.GetElapsedTime(lastPoison.EndedTicks, next.StartedTicks);
        output.WriteLine($"poison: dead-lettered {toDeadLetter.TotalMilliseconds:F0} ms after its first attempt; group's next message started {nextAfter.TotalMilliseconds:F0} ms after its last attempt");
        Assert.True(nextAfter < TimeSpan.FromSeconds(10), $"the group's next message started {nextAfter} after the poison's last attempt");

        // Every message was deleted: handled ones and the dead-lettered one alike.
        await WaitUntilAsync(() => CountAsync(queue).Result == (0, 0), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_standard_queue_keyed_by_an_attribute_handles_each_key_one_at_a_time_and_dead_letters_the_poison()
    {
        string queue = await CreateQueueAsync(fifo: false);
        List<Body> sent = await SendAsync(queue, fifo: false, count: 300, groups: 10, seed: 2);
        Body poison = sent[17];
        await using SqsWorker worker = SqsWorker.Create(emulator, queue, source: options => options.PartitionKeyAttribute = "tenant");
        worker.Handler.Behaviour = async (record, _, token) =>
        {
            Assert.Equal(Parse(record.Data).Group, record.PartitionKey);
            if (Parse(record.Data) == poison)
            {
                throw new InvalidOperationException("poison");
            }

            await Task.Delay(1, token);
        };

        await worker.StartAsync();
        await WaitUntilAsync(() => Done(worker).Count == sent.Count, TimeSpan.FromSeconds(60), () => $"{Done(worker).Count}/{sent.Count} {worker.Consumer.GetStatus()}");
        await worker.StopAsync();

        Assert.Equal(sent.Select(Id).ToHashSet(), Done(worker));
        Assert.Equal(0, worker.Handler.Overlaps);
        DeadLetterEnvelope letter = Assert.Single(worker.DeadLetters.Envelopes);
        Assert.Equal(poison, Parse(letter.Payload));
        Assert.Equal(poison.Group, letter.PartitionKey);
        await WaitUntilAsync(() => CountAsync(queue).Result == (0, 0), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Without_a_key_attribute_every_standard_message_is_its_own_key()
    {
        string queue = await CreateQueueAsync(fifo: false);
        List<Body> sent = await SendAsync(queue, fifo: false, count: 50, groups: 1, seed: 3);
        await using SqsWorker worker = SqsWorker.Create(emulator, queue);
        await worker.StartAsync();
        await WaitUntilAsync(() => Done(worker).Count == sent.Count, TimeSpan.FromSeconds(30));
        await worker.StopAsync();

        Assert.Equal(sent.Count, worker.Handler.Successes.Select(c => c.Record.PartitionKey).Distinct().Count());
        Assert.All(worker.Handler.Successes, c => Assert.Equal(c.Record.Attributes["Sqs.MessageId"], c.Record.PartitionKey));
    }

    [Fact]
    public async Task A_message_handled_longer_than_its_visibility_timeout_is_kept_hidden_by_the_heartbeat()
    {
        string queue = await CreateQueueAsync(fifo: false, visibilitySeconds: 2);
        await SendAsync(queue, fifo: false, count: 1, groups: 1);
        var slow = new RecordingHandler { Behaviour = static (_, _, token) => new ValueTask(Task.Delay(TimeSpan.FromSeconds(6), token)) };
        await using SqsWorker worker = SqsWorker.Create(emulator, queue, source: options => options.VisibilityTimeout = TimeSpan.FromSeconds(2), handler: slow);
        await using SqsWorker other = SqsWorker.Create(emulator, queue, source: options => options.VisibilityTimeout = TimeSpan.FromSeconds(2));
        await worker.StartAsync();
        await WaitUntilAsync(() => slow.Calls.Count > 0 || worker.Consumer.GetStatus().ActiveLanes > 0, TimeSpan.FromSeconds(10));
        await other.StartAsync();
        await WaitUntilAsync(() => slow.Successes.Any(), TimeSpan.FromSeconds(15));

        // Once the message is deleted nobody can receive it any more: what the other worker got, it got while the
        // message was being handled.
        await WaitUntilAsync(() => CountAsync(queue).Result == (0, 0), TimeSpan.FromSeconds(10), () => $"queue {CountAsync(queue).Result}");
        await other.StopAsync();
        await worker.StopAsync();

        Assert.Single(slow.Calls);
        Assert.Empty(other.Handler.Calls); // three visibility timeouts passed, yet nobody else received it
        Assert.Equal((0, 0), await CountAsync(queue));
    }

    [Fact]
    public async Task A_graceful_stop_makes_unhandled_messages_visible_again_at_once()
    {
        string queue = await CreateQueueAsync(fifo: true, visibilitySeconds: 60);
        List<Body> sent = await SendAsync(queue, fifo: true, count: 30, groups: 3, seed: 4);
        var stuck = new RecordingHandler { Behaviour = static (_, _, token) => new ValueTask(Task.Delay(Timeout.Infinite, token)) };
        await using SqsWorker first = SqsWorker.Create(
            emulator, queue, options => options.DrainTimeout = TimeSpan.FromMilliseconds(500), options => options.VisibilityTimeout = TimeSpan.FromSeconds(60), stuck);
        await first.StartAsync();
        await WaitUntilAsync(() => first.Consumer.GetStatus().ActiveLanes == 3, TimeSpan.FromSeconds(10));
        await first.StopAsync();
        output.WriteLine($"after the stop: {await CountAsync(queue)}");

        // Visible again now, not after the 60 s visibility timeout.
        var stopwatch = Stopwatch.StartNew();
        await using SqsWorker second = SqsWorker.Create(emulator, queue, source: options => options.VisibilityTimeout = TimeSpan.FromSeconds(60));
        await second.StartAsync();
        await WaitUntilAsync(() => Done(second).Count == sent.Count, TimeSpan.FromSeconds(20), () => $"{Done(second).Count}/{sent.Count}");
        output.WriteLine($"all {sent.Count} handled by the second worker {stopwatch.ElapsedMilliseconds} ms after the first stopped");
        await second.StopAsync();
        AssertGroupOrder(second.Handler);
        Assert.Equal(sent.Select(Id).ToHashSet(), Done(second));
    }

    [Fact]
    public async Task No_message_is_lost_when_a_worker_crashes_mid_handling_it_reappears_after_its_visibility_timeout()
    {
        string queue = await CreateQueueAsync(fifo: true, visibilitySeconds: 3);
        List<Body> sent = await SendAsync(queue, fifo: true, count: 200, groups: 10, seed: 5);
        int stuck = 0;
        var firstHandler = new RecordingHandler();
        firstHandler.Behaviour = async (record, _, token) =>
        {
            if (Parse(record.Data).Index == 5)
            {
                Interlocked.Increment(ref stuck);
                // Mid-handling when the process dies: never completes.
                await Task.Delay(Timeout.Infinite, token);
            }
        };
        SqsWorker first = SqsWorker.Create(emulator, queue, source: options => options.VisibilityTimeout = TimeSpan.FromSeconds(3), handler: firstHandler);
        await first.StartAsync();
        await WaitUntilAsync(() => Volatile.Read(ref stuck) >= 5, TimeSpan.FromSeconds(20), () => $"{first.Consumer.GetStatus()}");
        var stopwatch = Stopwatch.StartNew();
        first.Crash();

        await using SqsWorker second = SqsWorker.Create(emulator, queue, source: options => options.VisibilityTimeout = TimeSpan.FromSeconds(3));
        await second.StartAsync();
        await WaitUntilAsync(() => Done(first, second).Count == sent.Count, TimeSpan.FromSeconds(60), () => $"{Done(first, second).Count}/{sent.Count}");
        output.WriteLine($"every message done {stopwatch.ElapsedMilliseconds} ms after the crash; {first.Handler.Successes.Count()} handled before it");
        await second.StopAsync();

        Assert.Equal(sent.Select(Id).ToHashSet(), Done(first, second));
        Assert.Empty(second.DeadLetters.Envelopes);
        AssertGroupOrder(second.Handler);

        // The messages caught mid-handling came back only after their visibility timeout.
        var interrupted = first.Handler.Calls.Where(c => !c.Succeeded).Select(c => c.Record.Attributes["Sqs.MessageId"]).ToHashSet();
        Assert.NotEmpty(interrupted);
        Assert.All(
            second.Handler.Successes.Where(c => interrupted.Contains(c.Record.Attributes["Sqs.MessageId"])),
            c => Assert.True(int.Parse(c.Record.Attributes["Sqs.ApproximateReceiveCount"]) >= 2));
        Assert.Equal(interrupted.Count, second.Handler.Successes.Count(c => interrupted.Contains(c.Record.Attributes["Sqs.MessageId"])));
        Assert.Equal((0, 0), await CountAsync(queue));
    }

    [Fact]
    public async Task A_missing_queue_fails_start_up_naming_it()
    {
        await using SqsWorker worker = SqsWorker.Create(emulator, "no-such-queue-" + Guid.NewGuid().ToString("N")[..8]);
        InvalidOperationException error = await Assert.ThrowsAsync<InvalidOperationException>(() => worker.StartAsync());
        Assert.Contains("SQS queue 'no-such-queue-", error.Message);
        Assert.Contains("was not found", error.Message);
    }
}
