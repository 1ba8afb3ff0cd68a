using System.Net;
using Amazon.Runtime;
using StreamLanes.Aws;
using StreamLanes.Sqs;

namespace StreamLanes.Aws.Tests.Sqs;

/// <summary>The AWSSDK.SQS-backed client on a scripted HTTP handler: shapes, endpoint and the project's error kinds.</summary>
public sealed class SqsClientTests
{
    private static AwsClientOptions Options() => new()
    {
        Region = "us-east-1",
        ServiceUrl = new Uri("http://127.0.0.1:1/"),
        Credentials = new BasicAWSCredentials("test", "test"),
        MaxTransportRetries = 2,
    };

    [Fact]
    public async Task Received_messages_carry_system_and_message_attributes()
    {
        var handler = new ScriptedHandler().ThenRespond(HttpStatusCode.OK, """
            {"Messages":[{"MessageId":"m1","ReceiptHandle":"r1","MD5OfBody":"5d41402abc4b2a76b9719d911017c592","Body":"hello",
              "Attributes":{"MessageGroupId":"g1","SequenceNumber":"18849496460467696128","ApproximateReceiveCount":"3","SentTimestamp":"1700000000123"},
              "MessageAttributes":{"trace":{"DataType":"String","StringValue":"abc"},"blob":{"DataType":"Binary","BinaryValue":"AQI="}}}]}
            """);
        using var http = new HttpClient(handler);
        using var client = new SqsClient(Options(), http);

        var message = Assert.Single(await client.ReceiveMessagesAsync(new SqsReceiveMessageRequest
        {
            QueueUrl = "http://sqs.us-east-1.localhost:4566/000000000000/q.fifo",
            MaxNumberOfMessages = 10,
            MessageSystemAttributeNames = [SqsAttributeNames.All],
            MessageAttributeNames = [SqsAttributeNames.All],
        }));

        Assert.Equal("hello", message.Body);
        Assert.Equal("r1", message.ReceiptHandle);
        Assert.Equal("g1", message.MessageGroupId);
        Assert.Equal("18849496460467696128", message.SequenceNumber);
        Assert.Equal(3, message.ApproximateReceiveCount);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123), message.SentTimestamp);
        Assert.Equal("abc", message.MessageAttributes["trace"].StringValue);
        Assert.Equal(new byte[] { 1, 2 }, message.MessageAttributes["blob"].BinaryValue!.Value.ToArray());

        // Requests go to the configured endpoint, whatever host the queue URL names (emulators return unresolvable ones).
        var sent = Assert.Single(handler.Requests);
        Assert.Equal(("127.0.0.1:1", "/"), (sent.Uri.Authority, sent.Uri.AbsolutePath));
        Assert.Equal("AmazonSQS.ReceiveMessage", sent.Headers["X-Amz-Target"]);
        Assert.Contains("\"MessageSystemAttributeNames\":[\"All\"]", sent.BodyText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_empty_receive_has_no_messages()
    {
        using var http = new HttpClient(new ScriptedHandler().ThenRespond(HttpStatusCode.OK, "{}"));
        using var client = new SqsClient(Options(), http);

        Assert.Empty(await client.ReceiveMessagesAsync(new SqsReceiveMessageRequest { QueueUrl = "q" }));
    }

    [Fact]
    public async Task A_missing_queue_is_a_resource_not_found_error()
    {
        using var http = new HttpClient(new ScriptedHandler().ThenRespond(
            HttpStatusCode.BadRequest,
            """{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"""));
        using var client = new SqsClient(Options(), http);

        var error = await Assert.ThrowsAsync<AwsServiceException>(() => client.GetQueueUrlAsync("missing"));

        Assert.Equal(AwsErrorKind.ResourceNotFound, error.Kind);
        Assert.Equal("SQS", error.Service);
        Assert.Equal("GetQueueUrl", error.Operation);
    }

    [Fact]
    public async Task Throttling_is_retried_then_surfaces_as_throttling()
    {
        const string throttled = """{"__type":"com.amazonaws.sqs#RequestThrottled","message":"slow down"}""";
        var handler = new ScriptedHandler()
            .ThenRespond(HttpStatusCode.BadRequest, throttled)
            .ThenRespond(HttpStatusCode.OK, """{"QueueUrl":"http://127.0.0.1:1/000000000000/q"}""");
        using var http = new HttpClient(handler);
        using var client = new SqsClient(Options(), http);

        Assert.Equal("http://127.0.0.1:1/000000000000/q", await client.GetQueueUrlAsync("q"));
        Assert.Equal(2, handler.Requests.Count);

        var always = new ScriptedHandler { Fallback = (_, _) => Task.FromResult(ScriptedHandler.Json(HttpStatusCode.BadRequest, throttled)) };
        using var http2 = new HttpClient(always);
        using var client2 = new SqsClient(Options(), http2);
        var error = await Assert.ThrowsAsync<AwsServiceException>(() => client2.GetQueueUrlAsync("q"));
        Assert.Equal(AwsErrorKind.Throttling, error.Kind);
        Assert.Equal(3, always.Requests.Count);
    }

    [Fact]
    public async Task Batch_failures_are_reported_entry_by_entry()
    {
        using var http = new HttpClient(new ScriptedHandler().ThenRespond(HttpStatusCode.OK, """
            {"Successful":[{"Id":"0"}],"Failed":[{"Id":"1","SenderFault":true,"Code":"ReceiptHandleIsInvalid","Message":"bad"}]}
            """));
        using var client = new SqsClient(Options(), http);

        var response = await client.DeleteMessageBatchAsync("q", [new() { Id = "0", ReceiptHandle = "a" }, new() { Id = "1", ReceiptHandle = "b" }]);

        Assert.Equal("0", Assert.Single(response.Successful).Id);
        var failed = Assert.Single(response.Failed);
        Assert.Equal(("1", true, "ReceiptHandleIsInvalid"), (failed.Id, failed.SenderFault, failed.Code));
    }
}
