using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using StreamLanes.Engine.Tests.Sources.Contract;
using StreamLanes.TestInfrastructure;
using static StreamLanes.Engine.Tests.Sources.Contract.StreamSourceContract;

namespace StreamLanes.IntegrationTests.Sqs;

/// <summary>
/// The <see cref="IStreamSource"/> contract (<see cref="StreamSourceContract"/>) for the SQS source on fauxqs, with a
/// FIFO queue. Three clauses cannot hold as written for a queue, and are asserted in their SQS form:
/// <list type="bullet">
/// <item>"Every record is enqueued without any being completed": a FIFO queue hands out a message group's next message
/// only once the previous one is deleted, which the source does when the engine completes a record. The recording host
/// therefore acknowledges each record as it records it, as the engine does once a record is handled.</item>
/// <item>"Nothing is enqueued once StopReadingAsync returned": the source's StopReadingAsync returns before its
/// receivers' last long polls end (SQS does not notice a cancelled poll, and would keep what it hands to it hidden for
/// a whole visibility timeout). The SQS clause: nothing those last polls receive is enqueued; the release makes it
/// visible again at once.</item>
/// <item>"After release another source reads every shard at once": there are no leases and no checkpoints. The SQS
/// clause: every message the first reader did not acknowledge is visible again to the next one at once, long before
/// the visibility timeout, and a group's order holds across the two readers.</item>
/// </list>
/// Order is per message group (the record's partition key): positions are numbered by the source in receive order.
/// </summary>
[Collection(EmulatorCollections.Sqs)]
public sealed class SqsSourceContractTests(SqsEmulatorFixture sqs) : IDisposable
{
    /// <summary>Bounds a wait for progress; far below <see cref="VisibilitySeconds"/>.</summary>
    private static readonly TimeSpan Progress = TimeSpan.FromSeconds(30);

    // A message seen again within Progress was released, not timed out.
    private const int VisibilitySeconds = 300;

    private readonly SqsClient _client = sqs.CreateSqsClient();

    public void Dispose() => _client.Dispose();

    [Fact]
    public async Task Every_message_is_enqueued_once_in_group_order_and_nothing_received_after_stop_reading_is_enqueued()
    {
        (string queueUrl, string queueName) = await CreateFifoQueueAsync();
        string[] keys = [.. Enumerable.Range(0, 60).Select(i => $"key-{i % 7}")];
        await SendAsync(queueUrl, keys, firstIndex: 0);

        var host = new RecordingSourceHost(PayloadOf, acknowledge: true);
        SqsSource source = CreateSource(queueUrl);
        try
        {
            await source.StartAsync(host, default);
            await host.WaitForAsync(keys.Length);
            await source.StopReadingAsync(new CancellationTokenSource(Progress).Token);
            host.MarkStopped();

            // Sent after the stop, while the receivers are still in their last long polls: those polls take them, and
            // they must not reach the host.
            await SendAsync(queueUrl, ["late-1", "late-2"], firstIndex: keys.Length);
            await WaitAsync(() => source.InFlightCount == 2, "the receivers' last long polls to take the two late messages");
            await source.ReleaseAsync(new CancellationTokenSource(Progress).Token);
        }
        finally
        {
            await source.DisposeAsync();
        }

        host.AssertNoViolations();
        host.AssertInOrderPerShard();
        Assert.Equal(Expected(keys, 0), host.Payloads.Order(StringComparer.Ordinal));
        AssertInOrderPerGroup(host);
        Assert.All(host.Processors.Values.SelectMany(p => p.Records), record => Assert.Equal(queueName, record.StreamName));

        // Released, not lost: visible again now, although their visibility timeout is minutes away.
        Assert.Equal(Expected(["late-1", "late-2"], keys.Length), await ReceiveAsync(queueUrl, 2));
    }

    [Fact]
    public async Task After_release_the_next_reader_receives_every_unacknowledged_message_at_once_in_group_order()
    {
        (string queueUrl, _) = await CreateFifoQueueAsync();
        string[] keys = [.. Enumerable.Range(0, 20).Select(i => $"key-{i % 5}")];
        await SendAsync(queueUrl, keys, firstIndex: 0);

        // The first reader acknowledges nothing: the queue hands it the head of each group, and holds the rest back.
        var first = new RecordingSourceHost(PayloadOf);
        SqsSource firstSource = CreateSource(queueUrl);
        try
        {
            await firstSource.StartAsync(first, default);
            await first.WaitForAsync(5);
            await firstSource.StopReadingAsync(new CancellationTokenSource(Progress).Token);
            await firstSource.ReleaseAsync(new CancellationTokenSource(Progress).Token);
        }
        finally
        {
            await firstSource.DisposeAsync();
        }

        first.AssertNoViolations();
        AssertInOrderPerGroup(first);
        Assert.Equal([.. keys.Distinct()], first.Processors.Values.SelectMany(p => p.Records).Select(r => r.PartitionKey).Distinct().Order(StringComparer.Ordinal));

        // The next reader gets every message at once (the released heads first in their groups), not after the timeout.
        var second = new RecordingSourceHost(PayloadOf, acknowledge: true);
        SqsSource secondSource = CreateSource(queueUrl);
        try
        {
            await secondSource.StartAsync(second, default);
            await second.WaitForAsync(keys.Length);
            await secondSource.StopReadingAsync(new CancellationTokenSource(Progress).Token);
            await secondSource.ReleaseAsync(new CancellationTokenSource(Progress).Token);
        }
        finally
        {
            await secondSource.DisposeAsync();
        }

        second.AssertNoViolations();
        second.AssertInOrderPerShard();
        AssertInOrderPerGroup(second);
        Assert.Equal(Expected(keys, 0), second.Payloads.Order(StringComparer.Ordinal));
        Assert.Subset(second.Payloads.ToHashSet(), first.Payloads.ToHashSet());
    }

    private static string PayloadOf(StreamRecord record) => Encoding.UTF8.GetString(record.Data.Span);

    private static IEnumerable<string> Expected(IEnumerable<string> keys, int firstIndex)
        => keys.Select((key, i) => Payload(key, firstIndex + i)).Order(StringComparer.Ordinal);

    /// <summary>Within each message group (the record's key), records reached the host in the order they were sent.</summary>
    private static void AssertInOrderPerGroup(RecordingSourceHost host)
    {
        foreach (IGrouping<string, StreamRecord> group in host.Processors.Values.SelectMany(p => p.Records).GroupBy(r => r.PartitionKey))
        {
            string[] payloads = [.. group.Select(PayloadOf)];
            Assert.True(payloads.SequenceEqual(payloads.Order(StringComparer.Ordinal)), $"group {group.Key}: {string.Join(", ", payloads)}");
            Assert.All(payloads, payload => Assert.StartsWith(group.Key + "#", payload, StringComparison.Ordinal));
        }
    }

    private async Task<(string Url, string Name)> CreateFifoQueueAsync()
    {
        string name = EmulatorFixture.UniqueName("contract") + ".fifo";
        string url = await _client.CreateQueueAsync(name, new Dictionary<string, string>
        {
            [SqsAttributeNames.FifoQueue] = "true",
            [SqsAttributeNames.ContentBasedDeduplication] = "true",
            [SqsAttributeNames.VisibilityTimeout] = VisibilitySeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        return (url, name);
    }

    /// <summary>Sends one message per key, in order, the key as its group, with the contract's payload.</summary>
    private async Task SendAsync(string queueUrl, IReadOnlyList<string> keys, int firstIndex)
    {
        foreach ((string Key, int Index)[] chunk in keys.Select((key, i) => (key, firstIndex + i)).Chunk(10))
        {
            SqsSendMessageBatchResponse response = await _client.SendMessageBatchAsync(queueUrl, [.. chunk.Select((entry, i) => new SqsSendMessageBatchEntry
            {
                Id = i.ToString(System.Globalization.CultureInfo.InvariantCulture),
                MessageBody = Payload(entry.Key, entry.Index),
                MessageGroupId = entry.Key,
            })]);
            Assert.Empty(response.Failed);
        }
    }

    /// <summary>Receives (without deleting) until <paramref name="count"/> distinct messages were seen, within <see cref="Progress"/>.</summary>
    private async Task<IEnumerable<string>> ReceiveAsync(string queueUrl, int count)
    {
        var bodies = new HashSet<string>(StringComparer.Ordinal);
        using var timeout = new CancellationTokenSource(Progress);
        while (bodies.Count < count)
        {
            Assert.False(timeout.IsCancellationRequested, $"{bodies.Count} of {count} messages visible within {Progress}: {string.Join(", ", bodies)}");
            IReadOnlyList<SqsMessage> messages = await _client.ReceiveMessagesAsync(
                new SqsReceiveMessageRequest { QueueUrl = queueUrl, MaxNumberOfMessages = 10, WaitTimeSeconds = 1, VisibilityTimeout = VisibilitySeconds },
                CancellationToken.None);
            bodies.UnionWith(messages.Select(message => message.Body));
        }

        return bodies.Order(StringComparer.Ordinal);
    }

    private SqsSource CreateSource(string queueUrl)
    {
        var options = new SqsSourceOptions
        {
            Queue = queueUrl,
            Aws = sqs.CreateClientOptions(),
            Receivers = 2,
            WaitTime = TimeSpan.FromSeconds(5),
            VisibilityTimeout = TimeSpan.FromSeconds(VisibilitySeconds),
        };
        return new SqsSource(options, sqs.CreateSqsClient(), TimeProvider.System, NullLogger.Instance);
    }

    private static async Task WaitAsync(Func<bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(Progress);
        while (!condition())
        {
            Assert.False(timeout.IsCancellationRequested, $"Timed out waiting for {what}.");
            await Task.Delay(20);
        }
    }
}
