using System.Diagnostics;
using StreamLanes.Aws;
using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;
using StreamLanes.TestInfrastructure;
using Xunit.Abstractions;
using static StreamLanes.IntegrationTests.Operations.SqsQueues;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Operations;

/// <summary>
/// What operators do to an SQS consumer: restart it (a deployment) within SQS's 5-minute FIFO deduplication window, or
/// run two of it on one queue. Every dead letter must be kept, once, under its own identity.
/// </summary>
[Collection(EmulatorCollections.Sqs)]
public sealed class SqsRestartOperationsTests(SqsEmulatorFixture emulator, DynamoDbEmulatorFixture dynamoDb, ITestOutputHelper output)
    : IClassFixture<DynamoDbEmulatorFixture>, IDisposable
{
    private static readonly TimeSpan RunBound = TimeSpan.FromSeconds(30);
    private readonly SqsClient _sqs = emulator.CreateSqsClient();

    public void Dispose() => _sqs.Dispose();

    [Fact]
    public async Task A_restart_within_the_dedup_window_keeps_both_runs_dead_letters_in_a_FIFO_DLQ_once_each_in_group_order()
    {
        string source = await CreateAsync(_sqs, "orders", fifo: true);
        string dlq = await CreateAsync(_sqs, "orders-dlq", fifo: true);
        var clock = Stopwatch.StartNew();
        await RunTwiceAsync(source, _ => new SqsDeadLetterSink(_sqs, new SqsDeadLetterSinkOptions { QueueUrl = dlq }));
        Assert.True(clock.Elapsed < TimeSpan.FromMinutes(4), $"both runs took {clock.Elapsed}: outside the dedup window the test proves nothing");

        // SQS delivers a group in order: the DLQ must hold run 1's dead letter, then run 2's, each once.
        DeadLetterEnvelope[] letters = [.. (await DrainAsync(_sqs, dlq)).Select(Envelope)];
        output.WriteLine(string.Join(Environment.NewLine, letters.Select(l => $"{l.Id} {Text(l.Payload)}")));
        Assert.Equal(["{\"run\":1,\"poison\":true}", "{\"run\":2,\"poison\":true}"], letters.Select(l => Text(l.Payload)));
        Assert.Equal(2, letters.Select(l => l.Id).Distinct().Count());

        // The identity is SQS's own FIFO sequence number, which grows within the group across runs.
        Assert.All(letters, l => Assert.Equal(l.Attributes["Sqs.SequenceNumber"], l.SequenceNumber));
        Assert.True(new SequenceNumber(letters[0].SequenceNumber) < new SequenceNumber(letters[1].SequenceNumber));
        Assert.Equal((0, 0), await CountAsync(_sqs, source));
    }

    [Fact]
    public async Task A_restart_with_a_standard_DLQ_keeps_both_runs_dead_letters_under_distinct_ids_ordered_by_send_time()
    {
        string source = await CreateAsync(_sqs, "orders", fifo: false);
        string dlq = await CreateAsync(_sqs, "orders-dlq", fifo: false);
        await RunTwiceAsync(source, _ => new SqsDeadLetterSink(_sqs, new SqsDeadLetterSinkOptions { QueueUrl = dlq }), options => options.PartitionKeyAttribute = "tenant");

        // A standard queue has no order: the identity (send time, then message id) gives the key's order back.
        List<DeadLetterEnvelope> letters = [.. (await DrainAsync(_sqs, dlq)).Select(Envelope).OrderBy(l => new SequenceNumber(l.SequenceNumber))];
        output.WriteLine(string.Join(Environment.NewLine, letters.Select(l => $"{l.Id} {Text(l.Payload)}")));
        Assert.Equal(["{\"run\":1,\"poison\":true}", "{\"run\":2,\"poison\":true}"], letters.Select(l => Text(l.Payload)));
        Assert.Equal(2, letters.Select(l => l.Id).Distinct().Count());
        Assert.All(letters, l => Assert.StartsWith(l.Attributes["Sqs.SentTimestamp"], l.SequenceNumber, StringComparison.Ordinal));
        Assert.All(letters, l => Assert.Equal("k", l.PartitionKey));
        Assert.Equal((0, 0), await CountAsync(_sqs, source));
    }

    [Fact]
    public async Task A_restart_with_the_DynamoDB_sink_keeps_both_runs_dead_letters_as_two_items_in_group_order()
    {
        string source = await CreateAsync(_sqs, "orders", fifo: true);
        string table = EmulatorFixture.UniqueName("dead-letters");
        using Amazon.DynamoDBv2.AmazonDynamoDBClient client = dynamoDb.CreateDynamoDbClient();
        await RunTwiceAsync(source, _ => new DynamoDbDeadLetterSink(client, new DynamoDbDeadLetterSinkOptions { TableName = table }));

        using var store = new DynamoDbDeadLetterSink(client, new DynamoDbDeadLetterSinkOptions { TableName = table });
        var letters = new List<DeadLetterEnvelope>();
        await foreach (StoredDeadLetter stored in store.ReadAsync(new DeadLetterFilter { Consumer = "orders", PartitionKey = "k" }))
        {
            letters.Add(stored.Envelope);
        }

        // One Query of the key, in sort-key order: run 1's dead letter, then run 2's; neither overwrote the other.
        output.WriteLine(string.Join(Environment.NewLine, letters.Select(l => $"{l.Id} {Text(l.Payload)}")));
        Assert.Equal(["{\"run\":1,\"poison\":true}", "{\"run\":2,\"poison\":true}"], letters.Select(l => Text(l.Payload)));
        Assert.Equal(2, letters.Select(l => l.Id).Distinct().Count());
        Assert.Equal((0, 0), await CountAsync(_sqs, source));
    }

    [Fact]
    public async Task Two_consumers_on_one_queue_at_once_lose_and_overwrite_no_dead_letter_and_keep_group_order()
    {
        const int groups = 24;
        string source = await CreateAsync(_sqs, "orders", fifo: true);
        string dlq = await CreateAsync(_sqs, "orders-dlq", fifo: true);
        RecordingHandler first = PoisonAware(), second = PoisonAware();
        await using SqsService a = SqsService.Create(emulator, source, _ => new SqsDeadLetterSink(_sqs, new SqsDeadLetterSinkOptions { QueueUrl = dlq }), first, OneAtATime);
        await using SqsService b = SqsService.Create(emulator, source, _ => new SqsDeadLetterSink(_sqs, new SqsDeadLetterSinkOptions { QueueUrl = dlq }), second, OneAtATime);
        await Task.WhenAll(a.StartAsync(), b.StartAsync());

        // Two thirds of the groups are poison: every message of theirs is dead-lettered, by whichever consumer gets it.
        var poison = new HashSet<string>(StringComparer.Ordinal);
        var sent = new List<string>();
        for (int index = 1; index <= 3; index++)
        {
            for (int g = 0; g < groups; g++)
            {
                string body = g % 3 == 0 ? $"{{\"g\":{g},\"i\":{index}}}" : $"{{\"g\":{g},\"i\":{index},\"poison\":true}}";
                await SendAsync(_sqs, source, $"g-{g}", body);
                sent.Add(body);
                if (body.Contains("poison", StringComparison.Ordinal))
                {
                    poison.Add(body);
                }
            }
        }

        var clock = Stopwatch.StartNew();
        long Done() => a.Consumer.GetStatus().Handled + b.Consumer.GetStatus().Handled + a.Consumer.GetStatus().DeadLettered + b.Consumer.GetStatus().DeadLettered;
        await WaitUntilAsync(() => Done() == sent.Count, TimeSpan.FromSeconds(90), () => $"{Done()}/{sent.Count}: {a.Consumer.GetStatus()} {b.Consumer.GetStatus()}");
        output.WriteLine($"{sent.Count} messages done in {clock.ElapsedMilliseconds} ms; dead-lettered {a.Consumer.GetStatus().DeadLettered} + {b.Consumer.GetStatus().DeadLettered}");
        Assert.True(a.Consumer.GetStatus().DeadLettered > 0 && b.Consumer.GetStatus().DeadLettered > 0, "both consumers must dead-letter for the test to mean anything");
        await Task.WhenAll(a.StopAsync(), b.StopAsync());

        // Every poison message is in the DLQ exactly once, under an id of its own, and each group's in send order.
        List<DeadLetterEnvelope> letters = [.. (await DrainAsync(_sqs, dlq)).Select(Envelope)];
        Assert.Equal(poison.Order(StringComparer.Ordinal), letters.Select(l => Text(l.Payload)).Order(StringComparer.Ordinal));
        Assert.Equal(letters.Count, letters.Select(l => l.Id).Distinct().Count());
        foreach (IGrouping<string, DeadLetterEnvelope> group in letters.GroupBy(l => l.PartitionKey))
        {
            Assert.Equal(group.Select(l => Text(l.Payload)), sent.Where(s => group.Any(l => Text(l.Payload) == s)));
        }

        // Each group handled in send order across both processes, never two of a group at once.
        var calls = first.Calls.Concat(second.Calls).OrderBy(c => c.StartedTicks).ToList();
        foreach (IGrouping<string, HandlerCall> group in calls.GroupBy(c => c.Record.PartitionKey))
        {
            var ordered = group.ToList();
            for (int i = 1; i < ordered.Count; i++)
            {
                Assert.True(ordered[i].StartedTicks >= ordered[i - 1].EndedTicks, $"{group.Key}: two calls at once");
            }

            Assert.Equal(
                sent.Where(s => group.Any(c => Text(c.Record.Data) == s)),
                ordered.Select(c => Text(c.Record.Data)).Distinct());
        }

        Assert.Equal((0, 0), await CountAsync(_sqs, source));
    }

    // One message per receive spreads the messages over both consumers.
    private static void OneAtATime(SqsSourceOptions options)
    {
        options.MaxMessagesPerReceive = 1;
        options.Receivers = 2;
    }

    /// <summary>
    /// Runs the same consumer twice, one after the other (a restart): each run dead-letters its first message, a poison
    /// one of group "k", and handles the group's next; each run must finish within its bound.
    /// </summary>
    private async Task RunTwiceAsync(string source, Func<IServiceProvider, IDeadLetterSink> sink, Action<SqsSourceOptions>? options = null)
    {
        for (int run = 1; run <= 2; run++)
        {
            await using SqsService service = SqsService.Create(emulator, source, sink, PoisonAware(), options);
            await service.StartAsync();
            var clock = Stopwatch.StartNew();
            await SendAsync(_sqs, source, "k", $"{{\"run\":{run},\"poison\":true}}");
            await SendAsync(_sqs, source, "k", $"{{\"run\":{run}}}");
            await WaitUntilAsync(
                () => service.Consumer.GetStatus() is { DeadLettered: 1, Handled: 1 },
                RunBound,
                () => $"run {run}: {service.Consumer.GetStatus()}");
            output.WriteLine($"run {run}: dead letter written and the group's next message handled in {clock.ElapsedMilliseconds} ms");
            await service.StopAsync();
        }
    }
}
