using System.Net;
using System.Text.Json;
using StreamLanes.Kinesis.EventStream;
using StreamLanes.Aws;

namespace StreamLanes.Kinesis;

// Enhanced fan-out: register a consumer once per application and stream, then subscribe per leased shard.
internal partial class KinesisClient
{
    private static readonly TimeSpan ConsumerStatusTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Registers <paramref name="consumerName"/> on the stream; it starts in CREATING.</summary>
    internal async Task<KinesisStreamConsumer> RegisterStreamConsumerAsync(string streamArn, string consumerName, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(streamArn);
        ArgumentException.ThrowIfNullOrWhiteSpace(consumerName);
        var response = await _transport.SendAsync(
            "RegisterStreamConsumer",
            new KinesisStreamConsumerRequest(streamArn, consumerName, null),
            KinesisJsonContext.Default.KinesisStreamConsumerRequest,
            KinesisJsonContext.Default.KinesisRegisterStreamConsumerResponse,
            cancellationToken).ConfigureAwait(false);
        return response.Consumer;
    }

    /// <summary>Describes a registered consumer; <see cref="AwsErrorKind.ResourceNotFound"/> when there is none.</summary>
    internal async Task<KinesisStreamConsumer> DescribeStreamConsumerAsync(string streamArn, string consumerName, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(streamArn);
        ArgumentException.ThrowIfNullOrWhiteSpace(consumerName);
        var response = await _transport.SendAsync(
            "DescribeStreamConsumer",
            new KinesisStreamConsumerRequest(streamArn, consumerName, null),
            KinesisJsonContext.Default.KinesisStreamConsumerRequest,
            KinesisJsonContext.Default.KinesisDescribeStreamConsumerResponse,
            cancellationToken).ConfigureAwait(false);
        return response.ConsumerDescription;
    }

    /// <summary>Deregisters a consumer; its subscriptions end.</summary>
    internal Task DeregisterStreamConsumerAsync(string streamArn, string consumerName, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(streamArn);
        ArgumentException.ThrowIfNullOrWhiteSpace(consumerName);
        return _transport.SendAsync(
            "DeregisterStreamConsumer",
            new KinesisStreamConsumerRequest(streamArn, consumerName, null),
            KinesisJsonContext.Default.KinesisStreamConsumerRequest,
            cancellationToken);
    }

    /// <summary>
    /// Returns the ACTIVE consumer named <paramref name="consumerName"/>, registering it first if the stream has none:
    /// safe for many workers and restarts at once (a registration that loses the race reuses the winner's consumer).
    /// </summary>
    internal async Task<KinesisStreamConsumer> EnsureStreamConsumerActiveAsync(string streamArn, string consumerName, CancellationToken cancellationToken)
    {
        using var deadline = new CancellationTokenSource(ConsumerStatusTimeout, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            return (await ResiliencePipelines.PollUntilAsync(
                "StreamLanes.Kinesis.ConsumerActivePoll",
                StatusPoll,
                _timeProvider,
                ct => DescribeOrRegisterAsync(streamArn, consumerName, ct),
                static consumer => consumer is { IsActive: true },
                linked.Token).ConfigureAwait(false))!;
        }
        catch (OperationCanceledException ex) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"The stream consumer did not become ACTIVE within {ConsumerStatusTimeout.TotalMinutes:0} minutes.", ex);
        }
    }

    /// <summary>The consumer as described, registered first when missing; null when another worker's registration won the race (described on the next poll).</summary>
    private async Task<KinesisStreamConsumer?> DescribeOrRegisterAsync(string streamArn, string consumerName, CancellationToken cancellationToken)
    {
        try
        {
            return await DescribeStreamConsumerAsync(streamArn, consumerName, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.ResourceNotFound)
        {
            try
            {
                return await RegisterStreamConsumerAsync(streamArn, consumerName, cancellationToken).ConfigureAwait(false);
            }
            catch (AwsServiceException inUse) when (inUse.Kind == AwsErrorKind.ResourceInUse)
            {
                return null;
            }
        }
    }

    /// <summary>
    /// Subscribes to one shard through a registered consumer. The subscription pushes events for up to five minutes;
    /// read them with <see cref="KinesisShardSubscription.ReadEventAsync"/>, then subscribe again from the last
    /// <see cref="KinesisSubscribeToShardEvent.ContinuationSequenceNumber"/>.
    /// </summary>
    internal async Task<KinesisShardSubscription> SubscribeToShardAsync(
        string consumerArn,
        string shardId,
        KinesisSubscriptionStart startingPosition,
        CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(consumerArn);
        ArgumentException.ThrowIfNullOrWhiteSpace(shardId);
        ArgumentNullException.ThrowIfNull(startingPosition);
        HttpResponseMessage response = await _transport.OpenEventStreamAsync(
            "SubscribeToShard",
            new KinesisSubscribeToShardRequest(consumerArn, shardId, startingPosition),
            KinesisJsonContext.Default.KinesisSubscribeToShardRequest,
            cancellationToken).ConfigureAwait(false);
        try
        {
            Stream body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            return new KinesisShardSubscription(response, new EventStreamReader(body));
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }
}

/// <summary>One open SubscribeToShard response: its events, read one at a time.</summary>
internal sealed class KinesisShardSubscription : IAsyncDisposable
{
    private const string Operation = "SubscribeToShard";
    private readonly HttpResponseMessage _response;
    private readonly EventStreamReader _reader;

    internal KinesisShardSubscription(HttpResponseMessage response, EventStreamReader reader)
    {
        _response = response;
        _reader = reader;
    }

    /// <summary>The HTTP version the subscription runs over (2.0 against AWS and the emulator).</summary>
    public Version HttpVersion => _response.Version;

    /// <summary>
    /// The next batch of records, or <see langword="null"/> when the service ended the subscription (after about five
    /// minutes, or when the consumer was deregistered): subscribe again from the last continuation sequence number.
    /// </summary>
    /// <exception cref="AwsServiceException">The service sent an exception event (ResourceInUseException when another
    /// subscription holds the shard, LimitExceededException, an internal failure, ...).</exception>
    /// <exception cref="EventStreamFormatException">The bytes were not a valid event stream.</exception>
    public async ValueTask<KinesisSubscribeToShardEvent?> ReadEventAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            EventStreamMessage? message = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (message is null)
            {
                return null;
            }

            switch (message.MessageType)
            {
                case EventStreamMessage.EventMessageType when message.EventType == "SubscribeToShardEvent":
                    return JsonSerializer.Deserialize(message.Payload.Span, KinesisJsonContext.Default.KinesisSubscribeToShardEvent)
                        ?? throw new JsonException("A SubscribeToShardEvent had a null payload.");
                case EventStreamMessage.EventMessageType:
                    continue; // initial-response, and event types added later: nothing to deliver
                case EventStreamMessage.ExceptionMessageType:
                    throw ServiceException(message.ExceptionType, ReadMessage(message.Payload.Span));
                case EventStreamMessage.ErrorMessageType:
                    throw ServiceException(message.ErrorCode, message.ErrorMessage);
                default:
                    throw new EventStreamFormatException("An event-stream message has no known :message-type.");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _reader.DisposeAsync().ConfigureAwait(false);
        _response.Dispose();
    }

    private static AwsServiceException ServiceException(string? code, string? message)
    {
        string errorCode = AwsErrorClassifier.NormalizeCode(code);
        if (errorCode.Length == 0)
        {
            errorCode = "UnknownEventStreamError";
        }

        // Event-stream exceptions arrive inside a 200 response; classify as the same error would be as a 400.
        AwsErrorKind kind = AwsErrorClassifier.Classify(errorCode, HttpStatusCode.BadRequest);
        return new AwsServiceException(kind, errorCode, message, HttpStatusCode.OK, AwsServiceDescriptor.Kinesis.Name, Operation, requestId: null);
    }

    private static string? ReadMessage(ReadOnlySpan<byte> payload)
    {
        try
        {
            using JsonDocument json = JsonDocument.Parse(payload.ToArray());
            foreach (JsonProperty property in json.RootElement.EnumerateObject())
            {
                if (property.Name.Equals("message", StringComparison.OrdinalIgnoreCase) && property.Value.ValueKind == JsonValueKind.String)
                {
                    return property.Value.GetString();
                }
            }
        }
        catch (JsonException)
        {
        }

        return null;
    }
}
