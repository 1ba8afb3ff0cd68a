using Microsoft.Extensions.Logging;
using StreamLanes.Aws;

namespace StreamLanes.Sqs;

/// <summary>
/// SQS over its JSON 1.0 protocol. Every request goes to the configured endpoint with the queue URL in the body,
/// whatever host the URL names (emulators return URLs with hosts that do not resolve). Errors surface as
/// <see cref="AwsServiceException"/>; throttling, 5xx and network errors are retried first. Thread-safe.
/// </summary>
internal sealed class SqsClient : IDisposable
{
    private static readonly string[] AllAttributes = [SqsAttributeNames.All];
    private readonly AwsJsonTransport _transport;

    /// <summary>Creates a client.</summary>
    /// <param name="options">Region, endpoint, credentials and retries; validated here and copied.</param>
    /// <param name="httpClient">The HTTP client to send with; a private one when <see langword="null"/>.</param>
    /// <param name="loggerFactory">For retry and error logs; none when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock for signing, back-off and timeouts; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    public SqsClient(AwsClientOptions options, HttpClient? httpClient = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
        : this(options, httpClient, loggerFactory, timeProvider, jitter: null)
    {
    }

    internal SqsClient(AwsClientOptions options, HttpClient? httpClient, ILoggerFactory? loggerFactory, TimeProvider? timeProvider, Func<double>? jitter)
    {
        ArgumentNullException.ThrowIfNull(options);
        _transport = new AwsJsonTransport(
            AwsServiceDescriptor.Sqs,
            options,
            options.SqsServiceUrl,
            httpClient,
            loggerFactory?.CreateLogger<SqsClient>(),
            timeProvider,
            jitter);
    }

    /// <summary>The URL requests are sent to.</summary>
    public Uri Endpoint => _transport.Endpoint;

    /// <summary>Creates a queue (or returns the URL of an existing one with the same attributes).</summary>
    /// <param name="queueName">The name; a FIFO queue's ends in <c>.fifo</c>.</param>
    /// <param name="attributes">Queue attributes, see <see cref="SqsAttributeNames"/> (e.g. FifoQueue = "true").</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The queue's URL.</returns>
    public async Task<string> CreateQueueAsync(
        string queueName,
        IReadOnlyDictionary<string, string>? attributes = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueName);
        var response = await _transport.SendAsync(
            "CreateQueue",
            new SqsCreateQueueRequest(queueName, attributes is { Count: > 0 } ? attributes : null),
            SqsJsonContext.Default.SqsCreateQueueRequest,
            SqsJsonContext.Default.SqsQueueUrlResponse,
            cancellationToken).ConfigureAwait(false);
        return response.QueueUrl;
    }

    /// <summary>Gets the URL of a queue by name.</summary>
    public async Task<string> GetQueueUrlAsync(string queueName, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueName);
        var response = await _transport.SendAsync(
            "GetQueueUrl",
            new SqsGetQueueUrlRequest(queueName),
            SqsJsonContext.Default.SqsGetQueueUrlRequest,
            SqsJsonContext.Default.SqsQueueUrlResponse,
            cancellationToken).ConfigureAwait(false);
        return response.QueueUrl;
    }

    /// <summary>Gets queue attributes: all of them when <paramref name="attributeNames"/> is <see langword="null"/>.</summary>
    public async Task<IReadOnlyDictionary<string, string>> GetQueueAttributesAsync(
        string queueUrl,
        IReadOnlyList<string>? attributeNames = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueUrl);
        var response = await _transport.SendAsync(
            "GetQueueAttributes",
            new SqsGetQueueAttributesRequest(queueUrl, attributeNames ?? AllAttributes),
            SqsJsonContext.Default.SqsGetQueueAttributesRequest,
            SqsJsonContext.Default.SqsGetQueueAttributesResponse,
            cancellationToken).ConfigureAwait(false);
        return response.Attributes;
    }

    /// <summary>Sends one message.</summary>
    public Task<SqsSendMessageResponse> SendMessageAsync(SqsSendMessageRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _transport.SendAsync(
            "SendMessage",
            request,
            SqsJsonContext.Default.SqsSendMessageRequest,
            SqsJsonContext.Default.SqsSendMessageResponse,
            cancellationToken);
    }

    /// <summary>Sends up to 10 messages. Entries can fail one by one: check <see cref="SqsSendMessageBatchResponse.Failed"/>.</summary>
    public Task<SqsSendMessageBatchResponse> SendMessageBatchAsync(
        string queueUrl,
        IReadOnlyList<SqsSendMessageBatchEntry> entries,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueUrl);
        ArgumentNullException.ThrowIfNull(entries);
        return _transport.SendAsync(
            "SendMessageBatch",
            new SqsSendMessageBatchRequest(queueUrl, entries),
            SqsJsonContext.Default.SqsSendMessageBatchRequest,
            SqsJsonContext.Default.SqsSendMessageBatchResponse,
            cancellationToken);
    }

    /// <summary>Receives up to 10 messages, long-polling up to <see cref="SqsReceiveMessageRequest.WaitTimeSeconds"/>.</summary>
    public async Task<IReadOnlyList<SqsMessage>> ReceiveMessagesAsync(SqsReceiveMessageRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);

        // A long poll legitimately holds the response for WaitTimeSeconds: that is not a slow attempt.
        var wait = TimeSpan.FromSeconds(Math.Max(0, request.WaitTimeSeconds ?? 0));
        var response = await _transport.SendAsync(
            "ReceiveMessage",
            request,
            SqsJsonContext.Default.SqsReceiveMessageRequest,
            SqsJsonContext.Default.SqsReceiveMessageResponse,
            cancellationToken,
            wait).ConfigureAwait(false);
        return response.Messages;
    }

    /// <summary>Deletes a received message.</summary>
    public Task DeleteMessageAsync(string queueUrl, string receiptHandle, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueUrl);
        ArgumentException.ThrowIfNullOrWhiteSpace(receiptHandle);
        return _transport.SendAsync(
            "DeleteMessage",
            new SqsDeleteMessageRequest(queueUrl, receiptHandle),
            SqsJsonContext.Default.SqsDeleteMessageRequest,
            cancellationToken);
    }

    /// <summary>Deletes up to 10 received messages; entries can fail one by one.</summary>
    public Task<SqsBatchResponse> DeleteMessageBatchAsync(
        string queueUrl,
        IReadOnlyList<SqsDeleteMessageBatchEntry> entries,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueUrl);
        ArgumentNullException.ThrowIfNull(entries);
        return _transport.SendAsync(
            "DeleteMessageBatch",
            new SqsDeleteMessageBatchRequest(queueUrl, entries),
            SqsJsonContext.Default.SqsDeleteMessageBatchRequest,
            SqsJsonContext.Default.SqsBatchResponse,
            cancellationToken);
    }

    /// <summary>Changes how long a received message stays hidden, counted from now (0 releases it at once).</summary>
    public Task ChangeMessageVisibilityAsync(
        string queueUrl,
        string receiptHandle,
        int visibilityTimeoutSeconds,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueUrl);
        ArgumentException.ThrowIfNullOrWhiteSpace(receiptHandle);
        ArgumentOutOfRangeException.ThrowIfNegative(visibilityTimeoutSeconds);
        return _transport.SendAsync(
            "ChangeMessageVisibility",
            new SqsChangeMessageVisibilityRequest(queueUrl, receiptHandle, visibilityTimeoutSeconds),
            SqsJsonContext.Default.SqsChangeMessageVisibilityRequest,
            cancellationToken);
    }

    /// <summary>Changes the visibility of up to 10 received messages; entries can fail one by one.</summary>
    public Task<SqsBatchResponse> ChangeMessageVisibilityBatchAsync(
        string queueUrl,
        IReadOnlyList<SqsChangeMessageVisibilityBatchEntry> entries,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueUrl);
        ArgumentNullException.ThrowIfNull(entries);
        return _transport.SendAsync(
            "ChangeMessageVisibilityBatch",
            new SqsChangeMessageVisibilityBatchRequest(queueUrl, entries),
            SqsJsonContext.Default.SqsChangeMessageVisibilityBatchRequest,
            SqsJsonContext.Default.SqsBatchResponse,
            cancellationToken);
    }

    /// <summary>Deletes every message in a queue (at most once a minute per queue on AWS).</summary>
    public Task PurgeQueueAsync(string queueUrl, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueUrl);
        return _transport.SendAsync("PurgeQueue", new SqsQueueUrlRequest(queueUrl), SqsJsonContext.Default.SqsQueueUrlRequest, cancellationToken);
    }

    /// <summary>Deletes a queue.</summary>
    public Task DeleteQueueAsync(string queueUrl, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueUrl);
        return _transport.SendAsync("DeleteQueue", new SqsQueueUrlRequest(queueUrl), SqsJsonContext.Default.SqsQueueUrlRequest, cancellationToken);
    }

    /// <inheritdoc />
    public void Dispose() => _transport.Dispose();
}
