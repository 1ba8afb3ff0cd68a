using System.Globalization;
using System.Text.Json.Serialization;

namespace StreamLanes.Sqs;

// Response properties read "init => field = value ?? default": the JSON source generator sets every init-only
// property, passing null for fields absent from the response, which would break their non-null contract.

/// <summary>Names of SQS queue attributes and message system attributes.</summary>
internal static class SqsAttributeNames
{
    /// <summary>Every attribute (queue or message system attributes).</summary>
    public const string All = "All";

    /// <summary>Queue: <c>true</c> for a FIFO queue (the name must end in <c>.fifo</c>). Set at creation only.</summary>
    public const string FifoQueue = "FifoQueue";

    /// <summary>Queue: deduplicate FIFO messages by a SHA-256 of the body when no deduplication id is given.</summary>
    public const string ContentBasedDeduplication = "ContentBasedDeduplication";

    /// <summary>Queue: the default visibility timeout, in seconds.</summary>
    public const string VisibilityTimeout = "VisibilityTimeout";

    /// <summary>Queue: how long messages are kept, in seconds.</summary>
    public const string MessageRetentionPeriod = "MessageRetentionPeriod";

    /// <summary>Queue: the default long-poll wait, in seconds.</summary>
    public const string ReceiveMessageWaitTimeSeconds = "ReceiveMessageWaitTimeSeconds";

    /// <summary>Queue: the dead-letter redrive policy, a JSON string.</summary>
    public const string RedrivePolicy = "RedrivePolicy";

    /// <summary>Queue: the queue's ARN (read only).</summary>
    public const string QueueArn = "QueueArn";

    /// <summary>Queue: approximate number of visible messages (read only).</summary>
    public const string ApproximateNumberOfMessages = "ApproximateNumberOfMessages";

    /// <summary>Queue: approximate number of in-flight messages (read only).</summary>
    public const string ApproximateNumberOfMessagesNotVisible = "ApproximateNumberOfMessagesNotVisible";

    /// <summary>Message: the FIFO message group.</summary>
    public const string MessageGroupId = "MessageGroupId";

    /// <summary>Message: the FIFO deduplication id.</summary>
    public const string MessageDeduplicationId = "MessageDeduplicationId";

    /// <summary>Message: the FIFO sequence number (a 128-bit decimal string).</summary>
    public const string SequenceNumber = "SequenceNumber";

    /// <summary>Message: how many times the message has been received.</summary>
    public const string ApproximateReceiveCount = "ApproximateReceiveCount";

    /// <summary>Message: when the message was sent, epoch milliseconds.</summary>
    public const string SentTimestamp = "SentTimestamp";

    /// <summary>Message: when the message was first received, epoch milliseconds.</summary>
    public const string ApproximateFirstReceiveTimestamp = "ApproximateFirstReceiveTimestamp";
}

/// <summary>A message attribute value: <see cref="DataType"/> <c>String</c>, <c>Number</c> or <c>Binary</c> (optionally with a custom suffix).</summary>
internal sealed record SqsMessageAttributeValue
{
    /// <summary><c>String</c>, <c>Number</c> or <c>Binary</c>, optionally followed by <c>.suffix</c>.</summary>
    public required string DataType { get; init; }

    /// <summary>The value of a String or Number attribute.</summary>
    public string? StringValue { get; init; }

    /// <summary>The value of a Binary attribute (base64 on the wire).</summary>
    public ReadOnlyMemory<byte>? BinaryValue { get; init; }
}

/// <summary>A SendMessage request.</summary>
internal sealed record SqsSendMessageRequest
{
    /// <summary>The queue's URL (as returned by CreateQueue or GetQueueUrl).</summary>
    public required string QueueUrl { get; init; }

    /// <summary>The message body (up to 256 KiB of text).</summary>
    public required string MessageBody { get; init; }

    /// <summary>Delay before the message becomes visible, in seconds (standard queues only).</summary>
    public int? DelaySeconds { get; init; }

    /// <summary>Custom message attributes.</summary>
    public IReadOnlyDictionary<string, SqsMessageAttributeValue>? MessageAttributes { get; init; }

    /// <summary>FIFO: the deduplication id (not needed with content-based deduplication).</summary>
    public string? MessageDeduplicationId { get; init; }

    /// <summary>FIFO: the message group; messages of a group are delivered in order.</summary>
    public string? MessageGroupId { get; init; }
}

/// <summary>The result of SendMessage.</summary>
internal sealed record SqsSendMessageResponse
{
    /// <summary>The message id.</summary>
    public string MessageId { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>MD5 of the body, hex.</summary>
    [JsonPropertyName("MD5OfMessageBody")]
    public string? Md5OfMessageBody { get; init; }

    /// <summary>MD5 of the message attributes, hex.</summary>
    [JsonPropertyName("MD5OfMessageAttributes")]
    public string? Md5OfMessageAttributes { get; init; }

    /// <summary>FIFO: the message's sequence number.</summary>
    public string? SequenceNumber { get; init; }
}

/// <summary>One message of a SendMessageBatch request.</summary>
internal sealed record SqsSendMessageBatchEntry
{
    /// <summary>An id unique within the batch, used to match results.</summary>
    public required string Id { get; init; }

    /// <summary>The message body.</summary>
    public required string MessageBody { get; init; }

    /// <summary>Delay before the message becomes visible, in seconds (standard queues only).</summary>
    public int? DelaySeconds { get; init; }

    /// <summary>Custom message attributes.</summary>
    public IReadOnlyDictionary<string, SqsMessageAttributeValue>? MessageAttributes { get; init; }

    /// <summary>FIFO: the deduplication id.</summary>
    public string? MessageDeduplicationId { get; init; }

    /// <summary>FIFO: the message group.</summary>
    public string? MessageGroupId { get; init; }
}

/// <summary>A message of a SendMessageBatch that was sent.</summary>
internal sealed record SqsSendMessageBatchResultEntry
{
    /// <summary>The entry's id from the request.</summary>
    public string Id { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>The message id.</summary>
    public string MessageId { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>MD5 of the body, hex.</summary>
    [JsonPropertyName("MD5OfMessageBody")]
    public string? Md5OfMessageBody { get; init; }

    /// <summary>MD5 of the message attributes, hex.</summary>
    [JsonPropertyName("MD5OfMessageAttributes")]
    public string? Md5OfMessageAttributes { get; init; }

    /// <summary>FIFO: the message's sequence number.</summary>
    public string? SequenceNumber { get; init; }
}

/// <summary>A batch entry that failed.</summary>
internal sealed record SqsBatchResultErrorEntry
{
    /// <summary>The entry's id from the request.</summary>
    public string Id { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>Whether the caller caused the failure (then retrying the same entry will not help).</summary>
    public bool SenderFault { get; init; }

    /// <summary>The error code.</summary>
    public string Code { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>The error message.</summary>
    public string? Message { get; init; }
}

/// <summary>The result of SendMessageBatch: per-entry successes and failures.</summary>
internal sealed record SqsSendMessageBatchResponse
{
    /// <summary>The entries that were sent.</summary>
    public IReadOnlyList<SqsSendMessageBatchResultEntry> Successful { get; init => field = value ?? []; } = [];

    /// <summary>The entries that failed.</summary>
    public IReadOnlyList<SqsBatchResultErrorEntry> Failed { get; init => field = value ?? []; } = [];
}

/// <summary>A ReceiveMessage request.</summary>
internal sealed record SqsReceiveMessageRequest
{
    /// <summary>The queue's URL.</summary>
    public required string QueueUrl { get; init; }

    /// <summary>At most this many messages (1 to 10; the service's default is 1).</summary>
    public int? MaxNumberOfMessages { get; init; }

    /// <summary>Long-poll wait in seconds (0 to 20). The attempt's timeout is extended by this much.</summary>
    public int? WaitTimeSeconds { get; init; }

    /// <summary>How long received messages stay hidden, in seconds; the queue's default when unset.</summary>
    public int? VisibilityTimeout { get; init; }

    /// <summary>Custom message attributes to return (<c>All</c>, names, or prefixes like <c>trace.*</c>).</summary>
    public IReadOnlyList<string>? MessageAttributeNames { get; init; }

    /// <summary>System attributes to return, see <see cref="SqsAttributeNames"/> (e.g. MessageGroupId, SequenceNumber).</summary>
    public IReadOnlyList<string>? MessageSystemAttributeNames { get; init; }

    /// <summary>FIFO: makes a retried receive return the same messages.</summary>
    public string? ReceiveRequestAttemptId { get; init; }
}

/// <summary>A received message.</summary>
internal sealed record SqsMessage
{
    /// <summary>The message id.</summary>
    public string MessageId { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>The handle to delete the message or change its visibility, valid for this receive only.</summary>
    public string ReceiptHandle { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>MD5 of the body, hex.</summary>
    [JsonPropertyName("MD5OfBody")]
    public string? Md5OfBody { get; init; }

    /// <summary>The body.</summary>
    public string Body { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>The system attributes asked for.</summary>
    public IReadOnlyDictionary<string, string> Attributes { get; init => field = value ?? new Dictionary<string, string>(); } = new Dictionary<string, string>();

    /// <summary>MD5 of the message attributes, hex.</summary>
    [JsonPropertyName("MD5OfMessageAttributes")]
    public string? Md5OfMessageAttributes { get; init; }

    /// <summary>The custom attributes asked for.</summary>
    public IReadOnlyDictionary<string, SqsMessageAttributeValue> MessageAttributes
    {
        get;
        init => field = value ?? new Dictionary<string, SqsMessageAttributeValue>();
    } = new Dictionary<string, SqsMessageAttributeValue>();

    /// <summary>FIFO: the message group, when asked for.</summary>
    [JsonIgnore]
    public string? MessageGroupId => Attributes.GetValueOrDefault(SqsAttributeNames.MessageGroupId);

    /// <summary>FIFO: the sequence number, when asked for.</summary>
    [JsonIgnore]
    public string? SequenceNumber => Attributes.GetValueOrDefault(SqsAttributeNames.SequenceNumber);

    /// <summary>How many times the message has been received, when asked for.</summary>
    [JsonIgnore]
    public int? ApproximateReceiveCount =>
        int.TryParse(Attributes.GetValueOrDefault(SqsAttributeNames.ApproximateReceiveCount), NumberStyles.Integer, CultureInfo.InvariantCulture, out var count)
            ? count
            : null;

    /// <summary>When the message was sent, when asked for.</summary>
    [JsonIgnore]
    public DateTimeOffset? SentTimestamp =>
        long.TryParse(Attributes.GetValueOrDefault(SqsAttributeNames.SentTimestamp), NumberStyles.Integer, CultureInfo.InvariantCulture, out var millis)
            ? DateTimeOffset.FromUnixTimeMilliseconds(millis)
            : null;
}

/// <summary>One message of a DeleteMessageBatch request.</summary>
internal sealed record SqsDeleteMessageBatchEntry
{
    /// <summary>An id unique within the batch.</summary>
    public required string Id { get; init; }

    /// <summary>The receipt handle of the message.</summary>
    public required string ReceiptHandle { get; init; }
}

/// <summary>One message of a ChangeMessageVisibilityBatch request.</summary>
internal sealed record SqsChangeMessageVisibilityBatchEntry
{
    /// <summary>An id unique within the batch.</summary>
    public required string Id { get; init; }

    /// <summary>The receipt handle of the message.</summary>
    public required string ReceiptHandle { get; init; }

    /// <summary>The new visibility timeout from now, in seconds (0 makes the message visible at once).</summary>
    public required int VisibilityTimeout { get; init; }
}

/// <summary>A batch entry that succeeded (DeleteMessageBatch, ChangeMessageVisibilityBatch).</summary>
internal sealed record SqsBatchResultEntry
{
    /// <summary>The entry's id from the request.</summary>
    public string Id { get; init => field = value ?? string.Empty; } = string.Empty;
}

/// <summary>The result of DeleteMessageBatch or ChangeMessageVisibilityBatch.</summary>
internal sealed record SqsBatchResponse
{
    /// <summary>The entries that succeeded.</summary>
    public IReadOnlyList<SqsBatchResultEntry> Successful { get; init => field = value ?? []; } = [];

    /// <summary>The entries that failed.</summary>
    public IReadOnlyList<SqsBatchResultErrorEntry> Failed { get; init => field = value ?? []; } = [];
}

internal sealed record SqsCreateQueueRequest(string QueueName, IReadOnlyDictionary<string, string>? Attributes);

internal sealed record SqsQueueUrlResponse
{
    public string QueueUrl { get; init => field = value ?? string.Empty; } = string.Empty;
}

internal sealed record SqsGetQueueUrlRequest(string QueueName);

internal sealed record SqsGetQueueAttributesRequest(string QueueUrl, IReadOnlyList<string> AttributeNames);

internal sealed record SqsGetQueueAttributesResponse
{
    public IReadOnlyDictionary<string, string> Attributes { get; init => field = value ?? new Dictionary<string, string>(); } = new Dictionary<string, string>();
}

internal sealed record SqsSendMessageBatchRequest(string QueueUrl, IReadOnlyList<SqsSendMessageBatchEntry> Entries);

internal sealed record SqsReceiveMessageResponse
{
    public IReadOnlyList<SqsMessage> Messages { get; init => field = value ?? []; } = [];
}

internal sealed record SqsDeleteMessageRequest(string QueueUrl, string ReceiptHandle);

internal sealed record SqsDeleteMessageBatchRequest(string QueueUrl, IReadOnlyList<SqsDeleteMessageBatchEntry> Entries);

internal sealed record SqsChangeMessageVisibilityRequest(string QueueUrl, string ReceiptHandle, int VisibilityTimeout);

internal sealed record SqsChangeMessageVisibilityBatchRequest(string QueueUrl, IReadOnlyList<SqsChangeMessageVisibilityBatchEntry> Entries);

internal sealed record SqsQueueUrlRequest(string QueueUrl);
