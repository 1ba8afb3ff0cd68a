using System.Collections.Concurrent;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using StreamLanes.Aws;
using StreamLanes.Checkpointing;

namespace StreamLanes;

/// <summary>
/// Reads an SQS queue with several long-polling receivers into one shard of the engine, so that messages of one
/// key (FIFO: message group; standard: the configured attribute) are handled one at a time in this process whichever
/// receiver got them. A message is deleted once handled or dead-lettered (the engine's acknowledgement); while it is
/// in flight, a heartbeat keeps it hidden; on graceful stop, messages not handled are made visible again at once.
/// </summary>
/// <remarks>
/// SQS has no sequence numbers a checkpoint could use: each received message gets a synthetic, increasing one for the
/// engine's completion tracking, and checkpoints go nowhere (the queue itself remembers what was deleted).
/// </remarks>
internal sealed class SqsSource : IStreamSource, IRecordAcknowledger, IAsyncDisposable
{
    /// <summary>The engine's shard for the queue: one per consumer process, fed by every receiver.</summary>
    internal const string ShardId = "receivers";

    /// <summary>The prefix of the attributes of a record that SQS set (MessageId, MessageGroupId, SentTimestamp…).</summary>
    internal const string SystemAttributePrefix = "Sqs.";

    private const int BatchLimit = 10;
    private static readonly string[] All = [SqsAttributeNames.All];

    private readonly SqsSourceOptions _options;
    private readonly SqsClient _sqs;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopReading = new();
    private readonly CancellationTokenSource _stopBackground = new();
    private readonly SemaphoreSlim _enqueueGate = new(1, 1);

    // Messages received and not yet acknowledged: what the heartbeat renews and a graceful stop releases.
    private readonly ConcurrentDictionary<StreamRecord, InFlightMessage> _inFlight = new(ReferenceEqualityComparer.Instance);
    private readonly Channel<InFlightMessage> _deletes = Channel.CreateUnbounded<InFlightMessage>(new UnboundedChannelOptions { SingleWriter = false });
    private readonly List<Task> _receivers = [];
    private readonly List<Task> _deleters = [];
    private Task? _heartbeat;
    private IShardProcessor? _processor;
    private ISourceHost? _host;
    private string _queueUrl = "";
    private ulong _sequence;
    private volatile bool _stopReceiving;

    public SqsSource(SqsSourceOptions options, SqsClient sqs, TimeProvider timeProvider, ILogger logger)
    {
        _options = options;
        _sqs = sqs;
        _time = timeProvider;
        _logger = logger;
    }

    public SourceKind Kind => SourceKind.Sqs;

    public string StreamName => _options.QueueName;

    /// <summary>Messages received and not yet deleted.</summary>
    internal int InFlightCount => _inFlight.Count;

    public async Task StartAsync(ISourceHost host, CancellationToken cancellationToken)
    {
        _host = host;
        try
        {
            _queueUrl = _options.QueueIsUrl ? _options.Queue : await _sqs.GetQueueUrlAsync(_options.Queue, cancellationToken).ConfigureAwait(false);

            // Also proves a given URL names an existing queue, and that the credentials may read it.
            await _sqs.GetQueueAttributesAsync(_queueUrl, [SqsAttributeNames.QueueArn], cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.ResourceNotFound)
        {
            throw new InvalidOperationException($"SQS queue '{_options.Queue}' was not found in region {_options.Aws.Region} at {_sqs.Endpoint}.", ex);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.AccessDenied)
        {
            throw new InvalidOperationException($"SQS refused access to queue '{_options.Queue}' ({ex.ErrorCode}): check the credentials and the IAM policy (sqs:GetQueueUrl, GetQueueAttributes, ReceiveMessage, DeleteMessage, ChangeMessageVisibility).", ex);
        }

        _processor = host.OpenShard(ShardId, NoCheckpointer.Instance, SequenceNumber.None, this);
        for (int i = 0; i < _options.Receivers; i++)
        {
            _receivers.Add(Task.Run(() => ReceiveLoopAsync(_stopReading.Token), CancellationToken.None));
            _deleters.Add(Task.Run(DeleteLoopAsync, CancellationToken.None));
        }

        _heartbeat = Task.Run(() => HeartbeatLoopAsync(_stopBackground.Token), CancellationToken.None);
    }

    public Task StopReadingAsync(CancellationToken cancellationToken)
    {
        // Receivers finish the long poll they are in rather than cancel it: SQS does not notice a cancelled request,
        // and a message it hands to a poll nobody listens to any more stays hidden for a whole visibility timeout.
        // What those last polls return is not handled but made visible again in ReleaseAsync; meanwhile the engine
        // drains.
        _stopReceiving = true;
        return Task.CompletedTask;
    }

    public async Task ReleaseAsync(CancellationToken cancellationToken)
    {
        // The engine has drained and stopped its handlers: every acknowledgement is queued. Wait for the last long
        // polls (cancelled only if the stop's own time runs out), send the deletes, then make whatever was not
        // handled visible again so another consumer gets it now rather than after its timeout.
        using (cancellationToken.Register(static state => ((CancellationTokenSource)state!).Cancel(), _stopReading))
        {
            await Task.WhenAll(_receivers).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        _deletes.Writer.TryComplete();
        await Task.WhenAll(_deleters).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _stopBackground.CancelAsync().ConfigureAwait(false);
        if (_heartbeat is not null)
        {
            await _heartbeat.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        InFlightMessage[] unhandled = [.. _inFlight.Values];
        _inFlight.Clear();
        foreach (InFlightMessage[] chunk in unhandled.Chunk(BatchLimit))
        {
            try
            {
                SqsBatchResponse response = await _sqs.ChangeMessageVisibilityBatchAsync(
                    _queueUrl,
                    [.. chunk.Select((message, i) => new SqsChangeMessageVisibilityBatchEntry { Id = i.ToString(System.Globalization.CultureInfo.InvariantCulture), ReceiptHandle = message.ReceiptHandle, VisibilityTimeout = 0 })],
                    cancellationToken).ConfigureAwait(false);
                if (response.Failed.Count > 0)
                {
                    SqsLog.ReleaseFailed(_logger, null, _options.QueueName, response.Failed.Count);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                SqsLog.ReleaseFailed(_logger, ex, _options.QueueName, chunk.Length);
            }
        }

        if (unhandled.Length > 0)
        {
            SqsLog.Released(_logger, _options.QueueName, unhandled.Length);
        }
    }

    public async ValueTask DisposeAsync()
    {
        // An abrupt stop: nothing is deleted or released any more; in-flight messages reappear after their visibility
        // timeout and are handled again by whoever receives them.
        await _stopReading.CancelAsync().ConfigureAwait(false);
        await _stopBackground.CancelAsync().ConfigureAwait(false);
        _deletes.Writer.TryComplete();
        await Task.WhenAll([.. _receivers, .. _deleters, _heartbeat ?? Task.CompletedTask]).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stopReading.Dispose();
        _stopBackground.Dispose();
        _enqueueGate.Dispose();
        _sqs.Dispose();
    }

    void IRecordAcknowledger.OnRecordCompleted(StreamRecord record)
    {
        if (_inFlight.TryRemove(record, out InFlightMessage? message))
        {
            // Handled or durably dead-lettered: deleted in the next batch. Should the delete fail, the message is
            // received again after its visibility timeout (at least once, never lost).
            _deletes.Writer.TryWrite(message);
        }
    }

    private async Task ReceiveLoopAsync(CancellationToken token)
    {
        IShardProcessor processor = _processor!;

        // A receive is cancelled only by _stopReading (an abrupt stop, or a graceful one out of time), not when the
        // engine stops the shard: a cancelled long poll can still take messages, which then stay hidden for a whole
        // visibility timeout (see StopReadingAsync). Waits for buffer space also end when the shard stops.
        CancellationToken receiveToken = token;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(token, processor.Stopping);
        token = stop.Token;
        TimeSpan backoff = _options.ReceiveBackoff;
        var request = new SqsReceiveMessageRequest
        {
            QueueUrl = _queueUrl,
            MaxNumberOfMessages = _options.MaxMessagesPerReceive,
            WaitTimeSeconds = (int)_options.WaitTime.TotalSeconds,
            VisibilityTimeout = (int)_options.VisibilityTimeout.TotalSeconds,
            MessageAttributeNames = All,
            MessageSystemAttributeNames = All,
        };
        while (!receiveToken.IsCancellationRequested && !_stopReceiving)
        {
            try
            {
                IReadOnlyList<SqsMessage> messages = await _sqs.ReceiveMessagesAsync(request, receiveToken).ConfigureAwait(false);
                long receivedAt = _time.GetTimestamp();
                backoff = _options.ReceiveBackoff;
                _host!.ReportReaderRecovered(ShardId);
                if (messages.Count == 0)
                {
                    continue;
                }

                // One receiver enqueues at a time, so synthetic sequence numbers reach the shard in increasing order.
                await _enqueueGate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
                try
                {
                    var records = new StreamRecord[messages.Count];
                    for (int i = 0; i < records.Length; i++)
                    {
                        SqsMessage message = messages[i];
                        records[i] = ToRecord(message);
                        _inFlight[records[i]] = new InFlightMessage(message.MessageId, message.ReceiptHandle, receivedAt, receivedAt + ToTimestampTicks(_options.VisibilityTimeout));
                    }

                    // Records not enqueued because the stop came first stay in flight and are released on stop.
                    foreach (StreamRecord record in records)
                    {
                        if (_stopReceiving)
                        {
                            break;
                        }

                        await processor.EnqueueAsync(record, token).ConfigureAwait(false);
                    }
                }
                finally
                {
                    _enqueueGate.Release();
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                if (_stopReceiving)
                {
                    return;
                }

                // Unhealthy until a receive succeeds (a missing queue or denied access included: an operator may fix them).
                _host!.ReportReaderFault(ShardId, ex, fatal: false);

                TimeSpan wait = Backoff.Jittered(backoff);
                SqsLog.ReceiveFailed(_logger, ex, _options.QueueName, wait);
                try
                {
                    await Task.Delay(wait, _time, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                backoff = Backoff.Next(backoff, _options.MaxReceiveBackoff);
            }
        }
    }

    /// <summary>Builds a message's record; called under <c>_enqueueGate</c>, which orders the synthetic sequence numbers.</summary>
    private StreamRecord ToRecord(SqsMessage message)
    {
        var attributes = new Dictionary<string, string>(message.Attributes.Count + message.MessageAttributes.Count + 1, StringComparer.Ordinal);
        foreach ((string name, SqsMessageAttributeValue value) in message.MessageAttributes)
        {
            attributes[name] = value.StringValue ?? (value.BinaryValue is ReadOnlyMemory<byte> binary ? Convert.ToBase64String(binary.Span) : "");
        }

        attributes[SystemAttributePrefix + "MessageId"] = message.MessageId;
        foreach ((string name, string value) in message.Attributes)
        {
            attributes[SystemAttributePrefix + name] = value;
        }

        string key = _options.IsFifo
            ? message.MessageGroupId ?? message.MessageId
            : _options.PartitionKeyAttribute is string attribute && message.MessageAttributes.TryGetValue(attribute, out SqsMessageAttributeValue? keyValue) && keyValue.StringValue is string keyString
                ? keyString
                : message.MessageId;
        return new StreamRecord(
            SourceKind.Sqs,
            _options.QueueName,
            ShardId,
            SequenceNumber.FromInteger(++_sequence),
            key,
            Encoding.UTF8.GetBytes(message.Body),
            message.SentTimestamp ?? _time.GetUtcNow(),
            attributes);
    }

    private async Task DeleteLoopAsync()
    {
        ChannelReader<InFlightMessage> reader = _deletes.Reader;
        var batch = new List<InFlightMessage>(BatchLimit);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            // Whatever is queued now goes in one call: no waiting to fill a batch, so a lone message is deleted at once
            // and a busy consumer's deletes group themselves.
            while (batch.Count < BatchLimit && reader.TryRead(out InFlightMessage? message))
            {
                batch.Add(message);
            }

            if (batch.Count == 0)
            {
                continue;
            }

            try
            {
                SqsBatchResponse response = await _sqs.DeleteMessageBatchAsync(
                    _queueUrl,
                    [.. batch.Select((message, i) => new SqsDeleteMessageBatchEntry { Id = i.ToString(System.Globalization.CultureInfo.InvariantCulture), ReceiptHandle = message.ReceiptHandle })],
                    CancellationToken.None).ConfigureAwait(false);
                foreach (SqsBatchResultErrorEntry failed in response.Failed)
                {
                    SqsLog.DeleteFailed(_logger, null, _options.QueueName, batch[int.Parse(failed.Id, System.Globalization.CultureInfo.InvariantCulture)].MessageId, failed.Code);
                }
            }
            catch (Exception ex)
            {
                foreach (InFlightMessage message in batch)
                {
                    SqsLog.DeleteFailed(_logger, ex, _options.QueueName, message.MessageId, ex.GetType().Name);
                }
            }

            batch.Clear();
        }
    }

    private async Task HeartbeatLoopAsync(CancellationToken token)
    {
        using var timer = new PeriodicTimer(_options.EffectiveHeartbeatInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false))
            {
                await ExtendVisibilityAsync(token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    /// <summary>Renews the visibility of in-flight messages that would become visible before the next beat or two.</summary>
    internal async Task ExtendVisibilityAsync(CancellationToken token)
    {
        long now = _time.GetTimestamp();
        long renewBefore = now + (2 * ToTimestampTicks(_options.EffectiveHeartbeatInterval)) + ToTimestampTicks(TimeSpan.FromSeconds(1));
        long maxHold = ToTimestampTicks(_options.MaxVisibilityHold);
        var due = new List<(InFlightMessage Message, int Seconds)>();
        foreach (InFlightMessage message in _inFlight.Values)
        {
            if (Volatile.Read(ref message.VisibleUntil) > renewBefore || message.HoldExhausted)
            {
                continue;
            }

            // SQS counts a message's hidden time from its receipt; past MaxVisibilityHold it is let go.
            long remaining = message.ReceivedAt + maxHold - now;
            int seconds = (int)Math.Min(_options.VisibilityTimeout.TotalSeconds, remaining / (double)ToTimestampTicks(TimeSpan.FromSeconds(1)));
            if (seconds <= 0)
            {
                message.HoldExhausted = true;
                SqsLog.HoldExhausted(_logger, _options.QueueName, message.MessageId, _options.MaxVisibilityHold);
                continue;
            }

            due.Add((message, seconds));
        }

        foreach ((InFlightMessage Message, int Seconds)[] chunk in due.Chunk(BatchLimit))
        {
            try
            {
                SqsBatchResponse response = await _sqs.ChangeMessageVisibilityBatchAsync(
                    _queueUrl,
                    [.. chunk.Select((item, i) => new SqsChangeMessageVisibilityBatchEntry { Id = i.ToString(System.Globalization.CultureInfo.InvariantCulture), ReceiptHandle = item.Message.ReceiptHandle, VisibilityTimeout = item.Seconds })],
                    token).ConfigureAwait(false);
                var failed = response.Failed.Select(entry => entry.Id).ToHashSet(StringComparer.Ordinal);
                for (int i = 0; i < chunk.Length; i++)
                {
                    if (!failed.Contains(i.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                    {
                        Volatile.Write(ref chunk[i].Message.VisibleUntil, now + ToTimestampTicks(TimeSpan.FromSeconds(chunk[i].Seconds)));
                    }
                }

                // A failed entry is usually a message deleted meanwhile; otherwise it is renewed at the next beat.
            }
            catch (Exception ex) when (!token.IsCancellationRequested)
            {
                SqsLog.HeartbeatFailed(_logger, ex, _options.QueueName, chunk.Length);
            }
        }
    }

    private long ToTimestampTicks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    /// <summary>A message received and not yet acknowledged.</summary>
    private sealed class InFlightMessage(string messageId, string receiptHandle, long receivedAt, long visibleUntil)
    {
        public string MessageId { get; } = messageId;

        public string ReceiptHandle { get; } = receiptHandle;

        /// <summary>When it was received, as a <see cref="TimeProvider"/> timestamp.</summary>
        public long ReceivedAt { get; } = receivedAt;

        /// <summary>When it becomes visible again unless renewed, as a timestamp. Written by the heartbeat.</summary>
        public long VisibleUntil = visibleUntil;

        /// <summary>Whether the heartbeat gave up renewing it (held for <c>MaxVisibilityHold</c>). Heartbeat only.</summary>
        public bool HoldExhausted { get; set; }
    }

    /// <summary>SQS keeps no checkpoint: a message is done when it is deleted.</summary>
    private sealed class NoCheckpointer : IShardCheckpointer
    {
        public static readonly NoCheckpointer Instance = new();

        public ValueTask<SequenceNumber> GetAsync(CancellationToken cancellationToken) => ValueTask.FromResult(SequenceNumber.None);

        public ValueTask SaveAsync(SequenceNumber position, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}

internal static partial class SqsLog
{
    [LoggerMessage(401, LogLevel.Warning, "SQS {Queue}: receiving failed; retrying in {Delay}.")]
    public static partial void ReceiveFailed(ILogger logger, Exception exception, string queue, TimeSpan delay);

    [LoggerMessage(402, LogLevel.Warning, "SQS {Queue}: message {MessageId} was handled but could not be deleted ({Code}); it will be received again after its visibility timeout.")]
    public static partial void DeleteFailed(ILogger logger, Exception? exception, string queue, string messageId, string code);

    [LoggerMessage(403, LogLevel.Warning, "SQS {Queue}: renewing the visibility of {Count} in-flight messages failed; retrying at the next heartbeat.")]
    public static partial void HeartbeatFailed(ILogger logger, Exception exception, string queue, int count);

    [LoggerMessage(404, LogLevel.Warning, "SQS {Queue}: message {MessageId} has been in flight for MaxVisibilityHold ({MaxHold}); its visibility is no longer renewed, so it will become visible and may be received and handled again while it is still being handled here.")]
    public static partial void HoldExhausted(ILogger logger, string queue, string messageId, TimeSpan maxHold);

    [LoggerMessage(405, LogLevel.Warning, "SQS {Queue}: making {Count} unhandled messages visible again failed; they reappear after their visibility timeout.")]
    public static partial void ReleaseFailed(ILogger logger, Exception? exception, string queue, int count);

    [LoggerMessage(406, LogLevel.Information, "SQS {Queue}: {Count} messages not handled before the stop were made visible again.")]
    public static partial void Released(ILogger logger, string queue, int count);
}
