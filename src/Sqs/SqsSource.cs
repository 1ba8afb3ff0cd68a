using System.Collections.Concurrent;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using StreamLanes.Aws;
using StreamLanes.Checkpointing;

namespace StreamLanes.Sqs;

/// <summary>
/// Reads an SQS queue with several long-polling receivers into one shard of the engine, so that messages of one
/// key (FIFO: message group; standard: the configured attribute) are handled one at a time in this process whichever
/// receiver got them. A message is deleted once handled or dead-lettered (the engine's acknowledgement); while it is
/// in flight, a heartbeat keeps it hidden; on graceful stop, the long polls in flight are allowed to return and every
/// message not handled is made visible again at once.
/// </summary>
/// <remarks>
/// SQS has no shard order a checkpoint could use: the engine tracks a process's received messages by a per-process
/// receive counter (the record's <see cref="StreamRecord.Position"/>), and checkpoints go nowhere (the queue itself
/// remembers what was deleted). A record's identity (<see cref="StreamRecord.SequenceNumber"/>, from which dead-letter
/// ids, FIFO deduplication ids and sink keys derive) is the message's own: see <see cref="SqsMessageReader.IdentityOf"/>.
/// </remarks>
internal sealed partial class SqsSource : IStreamSource, IParkedKeysInCheckpointStore, IRecordAcknowledger, IAsyncDisposable
{
    /// <summary>The engine's shard for the queue: one per consumer process, fed by every receiver.</summary>
    internal const string ShardId = "receivers";

    /// <summary>The prefix of the attributes of a record that SQS set (MessageId, MessageGroupId, SentTimestamp…).</summary>
    internal const string SystemAttributePrefix = "Sqs.";

    private const int BatchLimit = 10;
    private static readonly string[] All = [SqsAttributeNames.All];

    /// <summary>How long past <c>WaitTime</c> a stop waits for a long poll in flight to return before cancelling it.</summary>
    internal static readonly TimeSpan PollReturnGrace = TimeSpan.FromSeconds(3);

    /// <summary>How long a stop spends making unhandled messages visible again, whatever time the engine has left.</summary>
    internal static readonly TimeSpan ReleaseBudget = TimeSpan.FromSeconds(5);

    private readonly SqsSourceOptions _options;
    private readonly SqsClient _sqs;
    private readonly TimeProvider _time;
    private readonly Polly.ResiliencePipeline _receiveRetry;
    private readonly Action<Exception, int, TimeSpan> _onReceiveFailed;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopReading = new();
    private readonly CancellationTokenSource _stopPolling = new();
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
    private long _stopStartedAt;
    private CancellationToken _hostStopping;
    private CancellationTokenRegistration _hostStoppingRegistration;

    /// <param name="options">The queue and how to read it.</param>
    /// <param name="sqs">The client; owned by the source.</param>
    /// <param name="timeProvider">The clock.</param>
    /// <param name="logger">For receive, delete and release problems.</param>
    /// <param name="hostStopping">
    /// The host's <c>ApplicationStopping</c>: when it fires, receivers send no new receive at once, so that the last long
    /// polls of every SQS consumer in the host end together while the host stops its consumers one after the other.
    /// </param>
    public SqsSource(SqsSourceOptions options, SqsClient sqs, TimeProvider timeProvider, ILogger logger, CancellationToken hostStopping = default)
    {
        _hostStopping = hostStopping;
        _options = options;
        _sqs = sqs;
        _time = timeProvider;
        _logger = logger;

        // Any failure while polling goes on is retried until a receive succeeds: an outage blocks, nothing is skipped.
        _receiveRetry = ResiliencePipelines.UntilSuccess("StreamLanes.Sqs.ReceiveRetry", options.ReceiveRetry, timeProvider, shouldRetry: _ => !_stopPolling.IsCancellationRequested);
        _onReceiveFailed = (ex, _, wait) =>
        {
            // Unhealthy until a receive succeeds (a missing queue or denied access included: an operator may fix them).
            _host!.ReportReaderFault(ShardId, ex, fatal: false);
            SqsLog.ReceiveFailed(_logger, ex, _options.QueueName, wait);
        };
    }

    public SourceKind Kind => SourceKind.Sqs;

    /// <summary>A handled message is deleted; there is nothing to checkpoint.</summary>
    public bool UsesConsumerCheckpointStore => false;

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

        // Only a ParkKey consumer needs state across restarts (its parked groups); any other keeps no file at all.
        IShardCheckpointer checkpointer = NoCheckpointer.Instance;
        if (host is StreamConsumerRuntime { ParksKeys: true })
        {
            var parked = new SqsParkedGroups(host.CreateCheckpointer(StreamName, ShardId));
            await parked.GetAsync(cancellationToken).ConfigureAwait(false);
            checkpointer = parked;
        }

        _processor = host.OpenShard(ShardId, checkpointer, SequenceNumber.None, this);
        for (int i = 0; i < _options.Receivers; i++)
        {
            _receivers.Add(Task.Run(() => ReceiveLoopAsync(_stopReading.Token), CancellationToken.None));
            _deleters.Add(Task.Run(DeleteLoopAsync, CancellationToken.None));
        }

        _heartbeat = Task.Run(() => HeartbeatLoopAsync(_stopBackground.Token), CancellationToken.None);
        _hostStoppingRegistration = _hostStopping.Register(static state => ((SqsSource)state!).StopPolling(), this);
    }

    public Task StopReadingAsync(CancellationToken cancellationToken)
    {
        StopPolling();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Receivers finish the long poll they are in rather than cancel it: SQS does not notice a cancelled request, and a
    /// message it hands to a poll nobody listens to any more stays hidden for a whole visibility timeout. What those last
    /// polls return is not handled but made visible again in ReleaseAsync; meanwhile the engine drains. Back-off waits
    /// and waits for buffer space end now. Idempotent: the host's stopping signal may come first.
    /// </summary>
    private void StopPolling()
    {
        Interlocked.CompareExchange(ref _stopStartedAt, _time.GetTimestamp(), 0);
        try
        {
            _stopPolling.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already disposed: nothing polls any more.
        }
    }

    public async Task ReleaseAsync(CancellationToken cancellationToken)
    {
        // The engine has drained and stopped its handlers: every acknowledgement is queued. Wait for the last long
        // polls, which SQS ends by WaitTime after the stop began (cancelled only past that and a grace, i.e. a hung
        // connection, or when the engine's release budget runs out), send the deletes, then make whatever was not
        // handled visible again so another consumer gets it now rather than after its visibility timeout.
        Interlocked.CompareExchange(ref _stopStartedAt, _time.GetTimestamp(), 0);
        TimeSpan pollsLeft = _options.WaitTime + PollReturnGrace - _time.GetElapsedTime(Interlocked.Read(ref _stopStartedAt));
        Task polls = Task.WhenAll(_receivers);
        using (var pollDeadline = new CancellationTokenSource(pollsLeft > TimeSpan.Zero ? pollsLeft : TimeSpan.Zero, _time))
        using (var giveUp = CancellationTokenSource.CreateLinkedTokenSource(pollDeadline.Token, cancellationToken))
        {
            await polls.WaitAsync(giveUp.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (!polls.IsCompleted)
        {
            SqsLog.PollsCancelled(_logger, _options.QueueName, _options.WaitTime + PollReturnGrace);
            await _stopReading.CancelAsync().ConfigureAwait(false);
            await polls.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        // The deletes and the release get a budget of their own: they are what keeps handled messages from coming back
        // and unhandled ones from staying hidden, so they are tried even when the engine's time is up.
        using var budget = new CancellationTokenSource(ReleaseBudget, _time);
        _deletes.Writer.TryComplete();
        await Task.WhenAll(_deleters).WaitAsync(budget.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
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
                    budget.Token).ConfigureAwait(false);
                if (response.Failed.Count > 0)
                {
                    SqsLog.ReleaseFailed(_logger, null, _options.QueueName, response.Failed.Count);
                }
            }
            catch (Exception ex)
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
        await _hostStoppingRegistration.DisposeAsync().ConfigureAwait(false);
        await _stopReading.CancelAsync().ConfigureAwait(false);
        await _stopPolling.CancelAsync().ConfigureAwait(false);
        await _stopBackground.CancelAsync().ConfigureAwait(false);
        _deletes.Writer.TryComplete();
        await Task.WhenAll([.. _receivers, .. _deleters, _heartbeat ?? Task.CompletedTask]).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stopReading.Dispose();
        _stopPolling.Dispose();
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

        // A receive is cancelled only by _stopReading (an abrupt stop, or a graceful one whose last polls did not
        // return in time), never by a graceful stop: a cancelled long poll can still take messages, which then stay
        // hidden for a whole visibility timeout (see StopReadingAsync). Other waits (back-off, buffer space, S3) also
        // end when the stop begins or the shard stops.
        CancellationToken receiveToken = token;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(token, _stopPolling.Token, processor.Stopping);
        token = stop.Token;
        var request = new SqsReceiveMessageRequest
        {
            QueueUrl = _queueUrl,
            MaxNumberOfMessages = _options.MaxMessagesPerReceive,
            WaitTimeSeconds = (int)_options.WaitTime.TotalSeconds,
            VisibilityTimeout = (int)_options.VisibilityTimeout.TotalSeconds,
            MessageAttributeNames = All,
            MessageSystemAttributeNames = All,
        };
        while (!receiveToken.IsCancellationRequested && !_stopPolling.IsCancellationRequested)
        {
            try
            {
                await _receiveRetry.ExecuteAsync(
                    static (state, ct) => new ValueTask(state.source.ReceiveOnceAsync(state.request, state.processor, state.receiveToken, ct)),
                    (source: this, request, processor, receiveToken),
                    _onReceiveFailed,
                    token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception) when (_stopPolling.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>One receive, its messages read and enqueued. <paramref name="receiveToken"/> cancels the receive; <paramref name="token"/> the rest.</summary>
    private async Task ReceiveOnceAsync(SqsReceiveMessageRequest request, IShardProcessor processor, CancellationToken receiveToken, CancellationToken token)
    {
        IReadOnlyList<SqsMessage> messages = await _sqs.ReceiveMessagesAsync(request, receiveToken).ConfigureAwait(false);
        long receivedAt = _time.GetTimestamp();
        _host!.ReportReaderRecovered(ShardId);
        if (messages.Count == 0)
        {
            return;
        }

        List<(SqsMessage Message, SqsRecordContent Content)> received = await ReadAllAsync(messages, token).ConfigureAwait(false);

        // One receiver enqueues at a time, so receive-order positions reach the shard in increasing order.
        await _enqueueGate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            var records = new StreamRecord[received.Count];
            for (int i = 0; i < records.Length; i++)
            {
                (SqsMessage message, SqsRecordContent content) = received[i];
                records[i] = new StreamRecord(
                    SourceKind.Sqs,
                    _options.QueueName,
                    ShardId,
                    SequenceNumber.FromInteger(++_sequence),
                    SqsMessageReader.IdentityOf(message, _options.IsFifo),
                    content.PartitionKey,
                    content.Data,
                    content.ArrivalTime,
                    content.Attributes);
                _inFlight[records[i]] = new InFlightMessage(message.MessageId, message.ReceiptHandle, receivedAt, receivedAt + ToTimestampTicks(_options.VisibilityTimeout));
            }

            // Records not enqueued because the stop came first stay in flight and are released on stop.
            foreach (StreamRecord record in records)
            {
                if (_stopPolling.IsCancellationRequested)
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

    /// <summary>
    /// The content of each received message: its own, or for a redriven StreamLanes dead letter the original record's.
    /// A redriven dead letter that cannot be read is left out: not deleted nor renewed, it comes back after its visibility
    /// timeout (and the queue's redrive policy moves it on after <c>maxReceiveCount</c> receives).
    /// </summary>
    private async Task<List<(SqsMessage Message, SqsRecordContent Content)>> ReadAllAsync(IReadOnlyList<SqsMessage> messages, CancellationToken token)
    {
        var received = new List<(SqsMessage, SqsRecordContent)>(messages.Count);
        foreach (SqsMessage message in messages)
        {
            if (!_options.UnwrapDeadLetters || !SqsMessageReader.IsEnvelope(message))
            {
                received.Add((message, SqsMessageReader.ContentOf(message, _options, _time)));
                continue;
            }

            try
            {
                received.Add((message, await SqsMessageReader.EnvelopeContentAsync(message, _options.ClaimCheck, _time, token).ConfigureAwait(false)));
            }
            catch (SqsEnvelopeException ex)
            {
                SqsLog.RedrivenEnvelopeUnreadable(_logger, ex, _options.QueueName, message.MessageId, _options.VisibilityTimeout);
                if (ex.Permanent)
                {
                    _host!.ReportFault(ex);
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested && !_stopReading.IsCancellationRequested)
            {
                // A graceful stop while the envelope loads: the message is made visible again with the others.
                received.Add((message, SqsMessageReader.ContentOf(message, _options, _time)));
            }
        }

        return received;
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
