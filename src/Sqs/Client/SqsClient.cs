using System.Net;
using Amazon;
using Amazon.Runtime;
using Amazon.SQS;
using Amazon.SQS.Model;
using StreamLanes.Aws;

namespace StreamLanes.Sqs;

/// <summary>
/// The SQS calls StreamLanes makes, over the user's or its own <see cref="IAmazonSQS"/> (AWSSDK.SQS). SDK service
/// errors surface as <see cref="AwsServiceException"/> with the project's error kinds, so the source and sinks keep
/// one error vocabulary across Kinesis, DynamoDB Streams and SQS. Thread-safe.
/// </summary>
internal sealed partial class SqsClient : IDisposable
{
    private const string QueryErrorPrefix = "AWS.SimpleQueueService.";
    private static readonly List<string> AllAttributes = [SqsAttributeNames.All];
    private readonly IAmazonSQS _sqs;
    private readonly bool _ownsClient;

    /// <summary>Creates a client over a new <see cref="AmazonSQSClient"/> built from <paramref name="options"/>.</summary>
    /// <param name="options">Region, endpoint, credentials and retries; validated here.</param>
    /// <param name="httpClient">The HTTP client to send with (tests inject faults through it); the SDK's own when <see langword="null"/>.</param>
    public SqsClient(AwsClientOptions options, HttpClient? httpClient = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var config = CreateConfig(options);
        if (httpClient is not null)
        {
            config.HttpClientFactory = new FixedHttpClientFactory(httpClient);
        }

        _sqs = options.ResolveCredentials() is { } credentials ? new AmazonSQSClient(credentials, config) : new AmazonSQSClient(config);
        _ownsClient = true;
        Endpoint = options.SqsServiceUrl ?? options.ServiceUrl ?? new Uri($"https://sqs.{options.Region}.amazonaws.com/");
    }

    /// <summary>Wraps a client someone else owns (e.g. one registered in DI): <see cref="Dispose"/> leaves it alone.</summary>
    /// <param name="sqs">The SDK client.</param>
    /// <param name="ownsClient">Whether <see cref="Dispose"/> disposes <paramref name="sqs"/>.</param>
    public SqsClient(IAmazonSQS sqs, bool ownsClient)
    {
        ArgumentNullException.ThrowIfNull(sqs);
        _sqs = sqs;
        _ownsClient = ownsClient;
        var serviceUrl = sqs.Config.ServiceURL;
        Endpoint = serviceUrl is not null
            ? new Uri(serviceUrl)
            : new Uri($"https://sqs.{sqs.Config.RegionEndpoint?.SystemName ?? "us-east-1"}.amazonaws.com/");
    }

    /// <summary>The URL requests are sent to (for messages).</summary>
    public Uri Endpoint { get; }

    /// <summary>The SDK client underneath.</summary>
    public IAmazonSQS Sdk => _sqs;

    /// <summary>The SDK configuration StreamLanes uses for a client it builds itself from <paramref name="options"/>.</summary>
    internal static AmazonSQSConfig CreateConfig(AwsClientOptions options)
    {
        var config = new AmazonSQSConfig
        {
            MaxErrorRetry = options.MaxTransportRetries,
            RetryMode = RequestRetryMode.Standard,

            // A long poll legitimately holds the response for up to 20 s: that is not a slow attempt.
            Timeout = options.RequestTimeout + TimeSpan.FromSeconds(20),
        };
        if ((options.SqsServiceUrl ?? options.ServiceUrl) is { } serviceUrl)
        {
            config.ServiceURL = serviceUrl.ToString();
            config.AuthenticationRegion = options.Region;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region);
        }

        return config;
    }

    /// <summary>Creates a queue (or returns the URL of an existing one with the same attributes).</summary>
    public async Task<string> CreateQueueAsync(string queueName, IReadOnlyDictionary<string, string>? attributes = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueName);
        var request = new CreateQueueRequest { QueueName = queueName };
        if (attributes is { Count: > 0 })
        {
            request.Attributes = new Dictionary<string, string>(attributes);
        }

        var response = await CallAsync("CreateQueue", c => _sqs.CreateQueueAsync(request, c), cancellationToken).ConfigureAwait(false);
        return response.QueueUrl;
    }

    /// <summary>Gets the URL of a queue by name.</summary>
    public async Task<string> GetQueueUrlAsync(string queueName, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueName);
        var response = await CallAsync("GetQueueUrl", c => _sqs.GetQueueUrlAsync(new GetQueueUrlRequest { QueueName = queueName }, c), cancellationToken).ConfigureAwait(false);
        return response.QueueUrl;
    }

    /// <summary>Gets queue attributes: all of them when <paramref name="attributeNames"/> is <see langword="null"/>.</summary>
    public async Task<IReadOnlyDictionary<string, string>> GetQueueAttributesAsync(string queueUrl, IReadOnlyList<string>? attributeNames = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueUrl);
        var request = new GetQueueAttributesRequest { QueueUrl = queueUrl, AttributeNames = attributeNames is null ? AllAttributes : [.. attributeNames] };
        var response = await CallAsync("GetQueueAttributes", c => _sqs.GetQueueAttributesAsync(request, c), cancellationToken).ConfigureAwait(false);
        return response.Attributes ?? new Dictionary<string, string>();
    }

    /// <summary>Sends one message.</summary>
    public async Task<SqsSendMessageResponse> SendMessageAsync(SqsSendMessageRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var sdkRequest = new SendMessageRequest
        {
            QueueUrl = request.QueueUrl,
            MessageBody = request.MessageBody,
            DelaySeconds = request.DelaySeconds,
            MessageAttributes = ToSdk(request.MessageAttributes),
            MessageDeduplicationId = request.MessageDeduplicationId,
            MessageGroupId = request.MessageGroupId,
        };
        var response = await CallAsync("SendMessage", c => _sqs.SendMessageAsync(sdkRequest, c), cancellationToken).ConfigureAwait(false);
        return new SqsSendMessageResponse
        {
            MessageId = response.MessageId,
            Md5OfMessageBody = response.MD5OfMessageBody,
            Md5OfMessageAttributes = response.MD5OfMessageAttributes,
            SequenceNumber = response.SequenceNumber,
        };
    }

    /// <summary>Sends up to 10 messages. Entries can fail one by one: check <see cref="SqsSendMessageBatchResponse.Failed"/>.</summary>
    public async Task<SqsSendMessageBatchResponse> SendMessageBatchAsync(string queueUrl, IReadOnlyList<SqsSendMessageBatchEntry> entries, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueUrl);
        ArgumentNullException.ThrowIfNull(entries);
        var sdkEntries = new List<SendMessageBatchRequestEntry>(entries.Count);
        foreach (var entry in entries)
        {
            sdkEntries.Add(new SendMessageBatchRequestEntry
            {
                Id = entry.Id,
                MessageBody = entry.MessageBody,
                DelaySeconds = entry.DelaySeconds,
                MessageAttributes = ToSdk(entry.MessageAttributes),
                MessageDeduplicationId = entry.MessageDeduplicationId,
                MessageGroupId = entry.MessageGroupId,
            });
        }

        var request = new SendMessageBatchRequest { QueueUrl = queueUrl, Entries = sdkEntries };
        var response = await CallAsync("SendMessageBatch", c => _sqs.SendMessageBatchAsync(request, c), cancellationToken).ConfigureAwait(false);
        return new SqsSendMessageBatchResponse
        {
            Successful = response.Successful?.ConvertAll(static s => new SqsSendMessageBatchResultEntry
            {
                Id = s.Id,
                MessageId = s.MessageId,
                Md5OfMessageBody = s.MD5OfMessageBody,
                Md5OfMessageAttributes = s.MD5OfMessageAttributes,
                SequenceNumber = s.SequenceNumber,
            }) ?? [],
            Failed = ToFailed(response.Failed),
        };
    }

    /// <summary>Receives up to 10 messages, long-polling up to <see cref="SqsReceiveMessageRequest.WaitTimeSeconds"/>.</summary>
    public async Task<IReadOnlyList<SqsMessage>> ReceiveMessagesAsync(SqsReceiveMessageRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var sdkRequest = new ReceiveMessageRequest
        {
            QueueUrl = request.QueueUrl,
            MaxNumberOfMessages = request.MaxNumberOfMessages,
            WaitTimeSeconds = request.WaitTimeSeconds,
            VisibilityTimeout = request.VisibilityTimeout,
            MessageAttributeNames = request.MessageAttributeNames is { } names ? [.. names] : null,
            MessageSystemAttributeNames = request.MessageSystemAttributeNames is { } system ? [.. system] : null,
            ReceiveRequestAttemptId = request.ReceiveRequestAttemptId,
        };
        var response = await CallAsync("ReceiveMessage", c => _sqs.ReceiveMessageAsync(sdkRequest, c), cancellationToken).ConfigureAwait(false);
        if (response.Messages is not { Count: > 0 } messages)
        {
            return [];
        }

        var result = new SqsMessage[messages.Count];
        for (var i = 0; i < messages.Count; i++)
        {
            result[i] = FromSdk(messages[i]);
        }

        return result;
    }

    /// <summary>Deletes a received message.</summary>
    public Task DeleteMessageAsync(string queueUrl, string receiptHandle, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueUrl);
        ArgumentException.ThrowIfNullOrWhiteSpace(receiptHandle);
        return CallAsync("DeleteMessage", c => _sqs.DeleteMessageAsync(new DeleteMessageRequest { QueueUrl = queueUrl, ReceiptHandle = receiptHandle }, c), cancellationToken);
    }

    /// <summary>Deletes up to 10 received messages; entries can fail one by one.</summary>
    public async Task<SqsBatchResponse> DeleteMessageBatchAsync(string queueUrl, IReadOnlyList<SqsDeleteMessageBatchEntry> entries, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueUrl);
        ArgumentNullException.ThrowIfNull(entries);
        var sdkEntries = new List<DeleteMessageBatchRequestEntry>(entries.Count);
        foreach (var entry in entries)
        {
            sdkEntries.Add(new DeleteMessageBatchRequestEntry { Id = entry.Id, ReceiptHandle = entry.ReceiptHandle });
        }

        var request = new DeleteMessageBatchRequest { QueueUrl = queueUrl, Entries = sdkEntries };
        var response = await CallAsync("DeleteMessageBatch", c => _sqs.DeleteMessageBatchAsync(request, c), cancellationToken).ConfigureAwait(false);
        return new SqsBatchResponse
        {
            Successful = response.Successful?.ConvertAll(static s => new SqsBatchResultEntry { Id = s.Id }) ?? [],
            Failed = ToFailed(response.Failed),
        };
    }

    /// <summary>Changes how long a received message stays hidden, counted from now (0 releases it at once).</summary>
    public Task ChangeMessageVisibilityAsync(string queueUrl, string receiptHandle, int visibilityTimeoutSeconds, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueUrl);
        ArgumentException.ThrowIfNullOrWhiteSpace(receiptHandle);
        ArgumentOutOfRangeException.ThrowIfNegative(visibilityTimeoutSeconds);
        var request = new ChangeMessageVisibilityRequest { QueueUrl = queueUrl, ReceiptHandle = receiptHandle, VisibilityTimeout = visibilityTimeoutSeconds };
        return CallAsync("ChangeMessageVisibility", c => _sqs.ChangeMessageVisibilityAsync(request, c), cancellationToken);
    }

    /// <summary>Changes the visibility of up to 10 received messages; entries can fail one by one.</summary>
    public async Task<SqsBatchResponse> ChangeMessageVisibilityBatchAsync(string queueUrl, IReadOnlyList<SqsChangeMessageVisibilityBatchEntry> entries, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueUrl);
        ArgumentNullException.ThrowIfNull(entries);
        var sdkEntries = new List<ChangeMessageVisibilityBatchRequestEntry>(entries.Count);
        foreach (var entry in entries)
        {
            sdkEntries.Add(new ChangeMessageVisibilityBatchRequestEntry { Id = entry.Id, ReceiptHandle = entry.ReceiptHandle, VisibilityTimeout = entry.VisibilityTimeout });
        }

        var request = new ChangeMessageVisibilityBatchRequest { QueueUrl = queueUrl, Entries = sdkEntries };
        var response = await CallAsync("ChangeMessageVisibilityBatch", c => _sqs.ChangeMessageVisibilityBatchAsync(request, c), cancellationToken).ConfigureAwait(false);
        return new SqsBatchResponse
        {
            Successful = response.Successful?.ConvertAll(static s => new SqsBatchResultEntry { Id = s.Id }) ?? [],
            Failed = ToFailed(response.Failed),
        };
    }

    /// <summary>Deletes every message in a queue (at most once a minute per queue on AWS).</summary>
    public Task PurgeQueueAsync(string queueUrl, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueUrl);
        return CallAsync("PurgeQueue", c => _sqs.PurgeQueueAsync(new PurgeQueueRequest { QueueUrl = queueUrl }, c), cancellationToken);
    }

    /// <summary>Deletes a queue.</summary>
    public Task DeleteQueueAsync(string queueUrl, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueUrl);
        return CallAsync("DeleteQueue", c => _sqs.DeleteQueueAsync(new DeleteQueueRequest { QueueUrl = queueUrl }, c), cancellationToken);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsClient)
        {
            _sqs.Dispose();
        }
    }

    private static async Task<T> CallAsync<T>(string operation, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call(cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonServiceException ex)
        {
            // One error vocabulary for every source: callers match on AwsErrorKind, not on SDK exception types.
            var code = AwsErrorClassifier.NormalizeCode(ex.ErrorCode ?? ex.GetType().Name);
            var status = ex.StatusCode == 0 ? HttpStatusCode.InternalServerError : ex.StatusCode;
            var kind = ex is QueueDoesNotExistException ? AwsErrorKind.ResourceNotFound : AwsErrorClassifier.Classify(code, status);
            if (kind == AwsErrorKind.Other && code.StartsWith(QueryErrorPrefix, StringComparison.Ordinal))
            {
                // The SDK reports the query protocol's code (AWS.SimpleQueueService.BatchEntryIdsNotDistinct): classify the bare one.
                code = code[QueryErrorPrefix.Length..];
                kind = AwsErrorClassifier.Classify(code, status);
            }

            throw new AwsServiceException(kind, code, ex.Message, status, "SQS", operation, ex.RequestId);
        }
    }

    private static List<SqsBatchResultErrorEntry> ToFailed(List<BatchResultErrorEntry>? failed) =>
        failed?.ConvertAll(static f => new SqsBatchResultErrorEntry { Id = f.Id, SenderFault = f.SenderFault ?? false, Code = f.Code, Message = f.Message }) ?? [];
}
