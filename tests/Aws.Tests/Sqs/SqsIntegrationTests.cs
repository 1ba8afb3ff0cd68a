using System.Globalization;
using System.Numerics;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.Aws.Tests;

[Collection(EmulatorCollections.Sqs)]
public sealed class SqsIntegrationTests(SqsEmulatorFixture emulator) : IAsyncLifetime
{
    private static readonly string[] AllAttributes = [SqsAttributeNames.All];
    private readonly SqsClient _client = emulator.CreateSqsClient();
    private readonly string _queueName = EmulatorFixture.UniqueName("sl-queue") + ".fifo";
    private string _queueUrl = string.Empty;

    public async Task InitializeAsync()
    {
        _queueUrl = await _client.CreateQueueAsync(_queueName, new Dictionary<string, string>
        {
            [SqsAttributeNames.FifoQueue] = "true",
            [SqsAttributeNames.ContentBasedDeduplication] = "true",
            [SqsAttributeNames.VisibilityTimeout] = "30",
        });
    }

    public async Task DisposeAsync()
    {
        try
        {
            await _client.DeleteQueueAsync(_queueUrl);
        }
        catch (AwsServiceException e) when (e.Kind == AwsErrorKind.ResourceNotFound)
        {
            // The test deleted it already.
        }
        finally
        {
            _client.Dispose();
        }
    }

    [Fact]
    public async Task Fifo_queue_is_created_and_found()
    {
        Assert.EndsWith("/" + _queueName, _queueUrl, StringComparison.Ordinal);
        Assert.Equal(_queueUrl, await _client.GetQueueUrlAsync(_queueName));

        var attributes = await _client.GetQueueAttributesAsync(_queueUrl);
        Assert.Equal("true", attributes[SqsAttributeNames.FifoQueue]);
        Assert.Equal("true", attributes[SqsAttributeNames.ContentBasedDeduplication]);
        Assert.Equal("30", attributes[SqsAttributeNames.VisibilityTimeout]);
        Assert.EndsWith(":" + _queueName, attributes[SqsAttributeNames.QueueArn], StringComparison.Ordinal);

        var some = await _client.GetQueueAttributesAsync(_queueUrl, [SqsAttributeNames.VisibilityTimeout]);
        Assert.Equal("30", Assert.Single(some).Value);
    }

    [Fact]
    public async Task Batch_send_receive_in_group_order_change_visibility_and_delete()
    {
        var entries = Enumerable.Range(0, 6)
            .Select(i => new SqsSendMessageBatchEntry
            {
                Id = $"e{i}",
                MessageBody = $"body-{i}",
                MessageGroupId = i % 2 == 0 ? "group-a" : "group-b",
                MessageDeduplicationId = $"dedup-{i}",
            })
            .ToList();

        var sent = await _client.SendMessageBatchAsync(_queueUrl, entries);

        Assert.Empty(sent.Failed);
        Assert.Equal(entries.Select(e => e.Id).Order(), sent.Successful.Select(s => s.Id).Order());
        Assert.All(sent.Successful, s => Assert.False(string.IsNullOrEmpty(s.SequenceNumber)));

        // Receive and delete until all six arrived: a FIFO group stays locked while one of its messages is in flight.
        var received = new List<SqsMessage>();
        for (var rounds = 0; rounds < 10 && received.Count < 6; rounds++)
        {
            var batch = await ReceiveAsync(expectAtLeast: 1, visibilityTimeout: 30);
            received.AddRange(batch);
            var deleted = await _client.DeleteMessageBatchAsync(
                _queueUrl,
                batch.Select((m, i) => new SqsDeleteMessageBatchEntry { Id = $"d{i}", ReceiptHandle = m.ReceiptHandle }).ToList());
            Assert.Empty(deleted.Failed);
            Assert.Equal(batch.Count, deleted.Successful.Count);
        }

        Assert.Equal(6, received.Count);
        Assert.All(received, m =>
        {
            Assert.Equal(1, m.ApproximateReceiveCount);
            Assert.NotNull(m.SentTimestamp);
            Assert.False(string.IsNullOrEmpty(m.SequenceNumber));
        });
        Assert.Equal(["body-0", "body-2", "body-4"], received.Where(m => m.MessageGroupId == "group-a").Select(m => m.Body));
        Assert.Equal(["body-1", "body-3", "body-5"], received.Where(m => m.MessageGroupId == "group-b").Select(m => m.Body));
        var groupA = received.Where(m => m.MessageGroupId == "group-a").Select(m => BigInteger.Parse(m.SequenceNumber!, CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(groupA.Order(), groupA);

        // Two more, one per group: receive both, release both at once, and they come back with a higher receive count.
        await _client.SendMessageBatchAsync(
            _queueUrl,
            [
                new SqsSendMessageBatchEntry { Id = "a", MessageBody = "again-a", MessageGroupId = "group-a" },
                new SqsSendMessageBatchEntry { Id = "b", MessageBody = "again-b", MessageGroupId = "group-b" },
            ]);
        var first = await ReceiveAsync(expectAtLeast: 2, visibilityTimeout: 30);
        Assert.Equal(2, first.Count);

        // Everything is in flight now: nothing more to receive.
        Assert.Empty(await _client.ReceiveMessagesAsync(new SqsReceiveMessageRequest { QueueUrl = _queueUrl, MaxNumberOfMessages = 10 }));

        var released = await _client.ChangeMessageVisibilityBatchAsync(
            _queueUrl,
            first.Select((m, i) => new SqsChangeMessageVisibilityBatchEntry { Id = $"v{i}", ReceiptHandle = m.ReceiptHandle, VisibilityTimeout = 0 }).ToList());
        Assert.Empty(released.Failed);
        Assert.Equal(2, released.Successful.Count);

        var again = await ReceiveAsync(expectAtLeast: 2, visibilityTimeout: 30);
        Assert.Equal(["again-a", "again-b"], again.Select(m => m.Body).Order());
        Assert.All(again, m => Assert.Equal(2, m.ApproximateReceiveCount));

        // Single-message visibility change and delete.
        await _client.ChangeMessageVisibilityAsync(_queueUrl, again[0].ReceiptHandle, 0);
        var third = Assert.Single(await ReceiveAsync(expectAtLeast: 1, visibilityTimeout: 30));
        Assert.Equal(again[0].Body, third.Body);
        Assert.Equal(3, third.ApproximateReceiveCount);
        await _client.DeleteMessageAsync(_queueUrl, third.ReceiptHandle);
        await _client.DeleteMessageAsync(_queueUrl, again[1].ReceiptHandle);

        var attributes = await _client.GetQueueAttributesAsync(
            _queueUrl, [SqsAttributeNames.ApproximateNumberOfMessages, SqsAttributeNames.ApproximateNumberOfMessagesNotVisible]);
        Assert.Equal("0", attributes[SqsAttributeNames.ApproximateNumberOfMessages]);
        Assert.Equal("0", attributes[SqsAttributeNames.ApproximateNumberOfMessagesNotVisible]);
    }

    [Fact]
    public async Task Single_send_carries_message_attributes()
    {
        var sent = await _client.SendMessageAsync(new SqsSendMessageRequest
        {
            QueueUrl = _queueUrl,
            MessageBody = """{"order":42}""",
            MessageGroupId = "orders-42",
            MessageAttributes = new Dictionary<string, SqsMessageAttributeValue>
            {
                ["trace"] = new() { DataType = "String", StringValue = "abc-123" },
                ["blob"] = new() { DataType = "Binary", BinaryValue = new byte[] { 0, 1, 254, 255 } },
                ["count"] = new() { DataType = "Number", StringValue = "7" },
            },
        });
        Assert.False(string.IsNullOrEmpty(sent.MessageId));
        Assert.False(string.IsNullOrEmpty(sent.SequenceNumber));
        Assert.False(string.IsNullOrEmpty(sent.Md5OfMessageBody));

        var message = Assert.Single(await ReceiveAsync(expectAtLeast: 1, visibilityTimeout: 5));

        Assert.Equal(sent.MessageId, message.MessageId);
        Assert.Equal("""{"order":42}""", message.Body);
        Assert.Equal("orders-42", message.MessageGroupId);
        Assert.Equal("abc-123", message.MessageAttributes["trace"].StringValue);
        Assert.Equal(new byte[] { 0, 1, 254, 255 }, message.MessageAttributes["blob"].BinaryValue!.Value.ToArray());
        Assert.Equal("7", message.MessageAttributes["count"].StringValue);
    }

    [Fact]
    public async Task Purge_empties_and_delete_removes_the_queue()
    {
        await _client.SendMessageAsync(new SqsSendMessageRequest { QueueUrl = _queueUrl, MessageBody = "x", MessageGroupId = "g" });

        await _client.PurgeQueueAsync(_queueUrl);
        Assert.Empty(await _client.ReceiveMessagesAsync(new SqsReceiveMessageRequest { QueueUrl = _queueUrl, WaitTimeSeconds = 0 }));

        await _client.DeleteQueueAsync(_queueUrl);
        var error = await Assert.ThrowsAsync<AwsServiceException>(() => _client.GetQueueUrlAsync(_queueName));
        Assert.Equal(AwsErrorKind.ResourceNotFound, error.Kind);
        Assert.Equal("SQS", error.Service);
    }

    [Fact]
    public async Task Invalid_batch_is_a_validation_error()
    {
        var duplicateIds = new[]
        {
            new SqsSendMessageBatchEntry { Id = "same", MessageBody = "a", MessageGroupId = "g" },
            new SqsSendMessageBatchEntry { Id = "same", MessageBody = "b", MessageGroupId = "g" },
        };

        var error = await Assert.ThrowsAsync<AwsServiceException>(() => _client.SendMessageBatchAsync(_queueUrl, duplicateIds));

        Assert.Equal(AwsErrorKind.Validation, error.Kind);
    }

    private async Task<List<SqsMessage>> ReceiveAsync(int expectAtLeast, int visibilityTimeout)
    {
        var messages = new List<SqsMessage>();
        for (var polls = 0; polls < 10 && messages.Count < expectAtLeast; polls++)
        {
            messages.AddRange(await _client.ReceiveMessagesAsync(new SqsReceiveMessageRequest
            {
                QueueUrl = _queueUrl,
                MaxNumberOfMessages = 10,
                WaitTimeSeconds = 1,
                VisibilityTimeout = visibilityTimeout,
                MessageSystemAttributeNames = AllAttributes,
                MessageAttributeNames = AllAttributes,
            }));
        }

        Assert.True(messages.Count >= expectAtLeast, $"Expected at least {expectAtLeast} messages, received {messages.Count}.");
        return messages;
    }
}
