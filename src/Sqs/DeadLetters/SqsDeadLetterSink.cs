using System.Collections.Concurrent;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StreamLanes.Aws;
using StreamLanes.S3;
using StreamLanes.Sinks;

namespace StreamLanes.Sqs;

/// <summary>
/// Writes dead letters to an SQS queue: the versioned envelope is the message body, and message attributes carry the
/// reason, consumer, stream, shard, partition key and last exception type, so a queue can be filtered without parsing
/// bodies. Concurrent writes are sent together (SendMessageBatch, up to 10 per call); each caller's write completes
/// only when its own entry was acknowledged, and a failed entry fails only its own write (the engine retries it).
/// </summary>
/// <remarks>
/// <para>FIFO queue (URL ends in <c>.fifo</c>): the message group is the partition key, the deduplication id is derived
/// from (consumer, stream, shard, sequence, sub-sequence) and the attempt count, so a retried write is not duplicated.</para>
/// <para>A dead letter over <see cref="SqsDeadLetterSinkOptions.MaxMessageBytes"/> is stored in S3 through the
/// <see cref="S3ClaimCheck"/> and the message carries a pointer; without a claim check such a write fails.</para>
/// </remarks>
public sealed class SqsDeadLetterSink : IDeadLetterSink, IDeadLetterStore, IAsyncDisposable
{
    /// <summary>Message attribute: the reason (<see cref="DeadLetterReason"/>).</summary>
    public const string ReasonAttribute = "streamlanes.reason";

    /// <summary>Message attribute: the consumer.</summary>
    public const string ConsumerAttribute = "streamlanes.consumer";

    /// <summary>Message attribute: the stream or queue the record came from.</summary>
    public const string StreamAttribute = "streamlanes.stream";

    /// <summary>Message attribute: the shard.</summary>
    public const string ShardAttribute = "streamlanes.shard";

    /// <summary>Message attribute: the partition key.</summary>
    public const string PartitionKeyAttribute = "streamlanes.partition-key";

    /// <summary>Message attribute: the type of the last failed attempt's exception, when there was an attempt.</summary>
    public const string ExceptionTypeAttribute = "streamlanes.exception-type";

    /// <summary>Message attribute: <c>s3</c> when the body is a claim-check pointer to the envelope in S3.</summary>
    public const string ClaimCheckAttribute = "streamlanes.claim-check";

    /// <summary>
    /// Message attribute on every message this sink writes: the envelope format version (<c>1</c>). It marks the message
    /// as a StreamLanes dead letter, so that an SQS source receiving it after SQS's own DLQ redrive (the console's "Start
    /// DLQ redrive", <c>StartMessageMoveTask</c>) hands its handler the original record rather than the envelope.
    /// </summary>
    public const string EnvelopeAttribute = "streamlanes.envelope";

    private static readonly string[] AllNames = [SqsAttributeNames.All];
    private readonly SqsClient _sqs;
    private readonly SqsDeadLetterSinkOptions _options;
    private readonly S3ClaimCheck? _claimCheck;
    private readonly ILogger _logger;
    private readonly SinkTelemetry _telemetry;
    private readonly bool _fifo;
    private readonly ConcurrentQueue<PendingWrite> _queue = new();
    private readonly CancellationTokenSource _lifetime = new();
    private int _flushing;

    /// <summary>Creates a sink with its own SQS client (from <see cref="SqsDeadLetterSinkOptions.Aws"/>), disposed with the sink.</summary>
    /// <param name="options">The queue, limits and AWS settings; validated and copied.</param>
    /// <param name="claimCheck">Where oversized dead letters go; none when <see langword="null"/> (then they fail to write).</param>
    /// <param name="timeProvider">The clock for metrics and transport retries; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <param name="logger">For write failures; none when <see langword="null"/>.</param>
    public SqsDeadLetterSink(SqsDeadLetterSinkOptions options, S3ClaimCheck? claimCheck = null, TimeProvider? timeProvider = null, ILogger? logger = null)
        : this(new SqsClient((options ?? throw new ArgumentNullException(nameof(options))).Aws), options, claimCheck, timeProvider, logger)
    {
        OwnsClient = true;
    }

    /// <summary>Creates a sink.</summary>
    /// <param name="sqs">The SQS client; owned by the caller.</param>
    /// <param name="options">The queue and limits; validated and copied.</param>
    /// <param name="claimCheck">Where oversized dead letters go; none when <see langword="null"/> (then they fail to write).</param>
    /// <param name="timeProvider">The clock for metrics; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <param name="logger">For write failures; none when <see langword="null"/>.</param>
    internal SqsDeadLetterSink(SqsClient sqs, SqsDeadLetterSinkOptions options, S3ClaimCheck? claimCheck = null, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(sqs);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _sqs = sqs;
        _options = options.Clone();
        _claimCheck = claimCheck;
        _logger = logger ?? NullLogger.Instance;
        _fifo = SqsNaming.IsFifo(_options.QueueUrl);
        _telemetry = new SinkTelemetry("sqs", _options.QueueUrl, timeProvider ?? TimeProvider.System);
    }

    /// <summary>The queue's URL.</summary>
    public string QueueUrl => _options.QueueUrl;

    /// <summary>Whether the sink disposes its SQS client.</summary>
    internal bool OwnsClient { get; init; }

    /// <inheritdoc/>
    public async ValueTask WriteAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_lifetime.IsCancellationRequested, this);
        _telemetry.Begin(envelope);
        try
        {
            SqsSendMessageBatchEntry entry = await BuildEntryAsync(envelope, cancellationToken).ConfigureAwait(false);
            var pending = new PendingWrite(entry, EntrySize(entry), cancellationToken);
            _queue.Enqueue(pending);
            if (Interlocked.CompareExchange(ref _flushing, 1, 0) == 0)
            {
                _ = Task.Run(FlushAsync, CancellationToken.None);
            }

            await pending.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            _telemetry.Succeeded(envelope);
        }
        catch (Exception ex)
        {
            bool cancelled = ex is OperationCanceledException && cancellationToken.IsCancellationRequested;
            _telemetry.Failed(envelope, cancelled);
            if (!cancelled)
            {
                SinkLog.WriteFailed(_logger, "sqs", SafeText.Escape(envelope.Id), SafeText.Escape(ex.Message, SafeText.MessageMaxLength));
            }

            throw;
        }
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<StoredDeadLetter> ReadAsync(DeadLetterFilter filter, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var unmatched = new List<string>();
        try
        {
            while (true)
            {
                IReadOnlyList<SqsMessage> messages = await _sqs.ReceiveMessagesAsync(
                    new SqsReceiveMessageRequest
                    {
                        QueueUrl = _options.QueueUrl,
                        MaxNumberOfMessages = 10,
                        WaitTimeSeconds = _options.ReadWaitTimeSeconds,
                        VisibilityTimeout = (int)Math.Ceiling(_options.ReadVisibilityTimeout.TotalSeconds),
                        MessageAttributeNames = AllNames,
                        MessageSystemAttributeNames = AllNames,
                    },
                    cancellationToken).ConfigureAwait(false);
                if (messages.Count == 0)
                {
                    // Every message read so far stays hidden, so an empty long poll means none is left visible.
                    yield break;
                }

                foreach (SqsMessage message in messages)
                {
                    if (!seen.Add(message.MessageId))
                    {
                        continue;
                    }

                    StoredDeadLetter? stored = await DecodeAsync(message, cancellationToken).ConfigureAwait(false);
                    if (stored is not null && filter.Matches(stored.Envelope))
                    {
                        yield return stored;
                    }
                    else
                    {
                        unmatched.Add(message.ReceiptHandle);
                    }
                }
            }
        }
        finally
        {
            // Messages that did not match were received only to be looked at: make them visible again now rather than
            // after the read's visibility timeout.
            await ReleaseHandlesAsync(unmatched, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public async ValueTask DeleteAsync(StoredDeadLetter deadLetter, CancellationToken cancellationToken = default)
    {
        SqsHandle handle = HandleOf(deadLetter);
        await _sqs.DeleteMessageAsync(_options.QueueUrl, handle.ReceiptHandle, cancellationToken).ConfigureAwait(false);
        if (handle.Pointer is not null && _claimCheck is not null)
        {
            // The pointer goes first: an object left behind by a failure here is only an orphan, never a dangling pointer.
            await _claimCheck.DeleteAsync(handle.Pointer, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public async ValueTask<StoredDeadLetter> ReplaceAsync(StoredDeadLetter deadLetter, DeadLetterEnvelope replacement, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(replacement);
        SqsHandle handle = HandleOf(deadLetter);

        // SQS cannot change a message: the new version is sent (and acknowledged) before the old one is deleted, so a
        // failure in between leaves two versions, never none.
        await WriteAsync(replacement, cancellationToken).ConfigureAwait(false);
        await DeleteAsync(deadLetter, cancellationToken).ConfigureAwait(false);
        return new StoredDeadLetter(replacement, handle with { ReceiptHandle = string.Empty, Pointer = null });
    }

    /// <inheritdoc/>
    public ValueTask ReleaseAsync(IReadOnlyCollection<StoredDeadLetter> deadLetters, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deadLetters);
        var handles = deadLetters.Select(d => d.Handle).OfType<SqsHandle>().Select(h => h.ReceiptHandle).Where(h => h.Length > 0).ToList();
        return new ValueTask(ReleaseHandlesAsync(handles, cancellationToken));
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        if (!_lifetime.IsCancellationRequested)
        {
            _lifetime.Cancel();
            while (_queue.TryDequeue(out PendingWrite? pending))
            {
                pending.Completion.TrySetException(new ObjectDisposedException(nameof(SqsDeadLetterSink)));
            }

            _telemetry.Dispose();
            if (OwnsClient)
            {
                _sqs.Dispose();
            }
        }

        return ValueTask.CompletedTask;
    }

    private async Task<SqsSendMessageBatchEntry> BuildEntryAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken)
    {
        byte[] json = DeadLetterEnvelopeSerializer.Serialize(envelope);
        var attributes = new Dictionary<string, SqsMessageAttributeValue>(StringComparer.Ordinal);
        AddAttribute(attributes, EnvelopeAttribute, envelope.Version.ToString(System.Globalization.CultureInfo.InvariantCulture));
        AddAttribute(attributes, ReasonAttribute, envelope.Reason.ToString());
        AddAttribute(attributes, ConsumerAttribute, envelope.Consumer);
        AddAttribute(attributes, StreamAttribute, envelope.Stream);
        AddAttribute(attributes, ShardAttribute, envelope.Shard);
        AddAttribute(attributes, PartitionKeyAttribute, envelope.PartitionKey);
        if (envelope.Attempts.Count > 0)
        {
            AddAttribute(attributes, ExceptionTypeAttribute, envelope.Attempts[^1].ExceptionType);
        }

        string body = Encoding.UTF8.GetString(json);
        if (json.Length + AttributesSize(attributes) > _options.MaxMessageBytes)
        {
            if (_claimCheck is null)
            {
                throw new InvalidOperationException(
                    $"The dead letter {envelope.Id} is {json.Length} bytes, over SqsDeadLetterSinkOptions.MaxMessageBytes ({_options.MaxMessageBytes}), and the SQS sink has no S3 claim check to store it: configure one.");
            }

            ClaimCheckPointer pointer = await _claimCheck.StoreAsync(envelope, json, cancellationToken).ConfigureAwait(false);
            SinkLog.ClaimChecked(_logger, "sqs", SafeText.Escape(envelope.Id), json.Length, _options.MaxMessageBytes, SafeText.Escape(pointer.Key, SafeText.MessageMaxLength));
            body = pointer.ToJson();
            AddAttribute(attributes, ClaimCheckAttribute, "s3");
        }

        return new SqsSendMessageBatchEntry
        {
            Id = "0",
            MessageBody = body,
            MessageAttributes = attributes,
            MessageGroupId = _fifo ? SqsNaming.MessageGroupFor(envelope.PartitionKey) : null,
            MessageDeduplicationId = _fifo ? SqsNaming.DeduplicationIdFor(envelope) : null,
        };
    }

    private static void AddAttribute(Dictionary<string, SqsMessageAttributeValue> attributes, string name, string value)
    {
        // SQS refuses empty string attributes; an absent attribute reads the same to a filter.
        if (value.Length > 0)
        {
            attributes[name] = new SqsMessageAttributeValue { DataType = "String", StringValue = value };
        }
    }

    private static int AttributesSize(Dictionary<string, SqsMessageAttributeValue> attributes)
        => attributes.Sum(static a => Encoding.UTF8.GetByteCount(a.Key) + a.Value.DataType.Length + Encoding.UTF8.GetByteCount(a.Value.StringValue ?? string.Empty));

    private static int EntrySize(SqsSendMessageBatchEntry entry)
        => Encoding.UTF8.GetByteCount(entry.MessageBody) + (entry.MessageAttributes is Dictionary<string, SqsMessageAttributeValue> a ? AttributesSize(a) : 0);

    private async Task FlushAsync()
    {
        while (true)
        {
            try
            {
                while (TakeBatch() is { Count: > 0 } batch)
                {
                    await SendBatchAsync(batch).ConfigureAwait(false);
                }
            }
            finally
            {
                Volatile.Write(ref _flushing, 0);
            }

            // A write enqueued after the last take but before the flag was cleared found the flag set and left its
            // entry to this loop: pick it up, unless another writer already started a new loop.
            if (_queue.IsEmpty || Interlocked.CompareExchange(ref _flushing, 1, 0) != 0)
            {
                return;
            }
        }
    }

    private List<PendingWrite> TakeBatch()
    {
        var batch = new List<PendingWrite>(_options.MaxBatchSize);
        int bytes = 0;
        while (batch.Count < _options.MaxBatchSize && _queue.TryPeek(out PendingWrite? next))
        {
            if (batch.Count > 0 && bytes + next.Size > _options.MaxMessageBytes)
            {
                break;
            }

            _queue.TryDequeue(out _);
            if (next.CancellationToken.IsCancellationRequested)
            {
                // The caller gave up; not sending keeps the sink from writing a dead letter the engine does not count.
                next.Completion.TrySetCanceled(next.CancellationToken);
                continue;
            }

            bytes += next.Size;
            batch.Add(next);
        }

        return batch;
    }

    private async Task SendBatchAsync(List<PendingWrite> batch)
    {
        var entries = new List<SqsSendMessageBatchEntry>(batch.Count);
        for (int i = 0; i < batch.Count; i++)
        {
            entries.Add(batch[i].Entry with { Id = i.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }

        SqsSendMessageBatchResponse response;
        try
        {
            response = await _sqs.SendMessageBatchAsync(_options.QueueUrl, entries, _lifetime.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            foreach (PendingWrite pending in batch)
            {
                pending.Completion.TrySetException(ex);
            }

            return;
        }

        foreach (SqsSendMessageBatchResultEntry ok in response.Successful)
        {
            if (int.TryParse(ok.Id, System.Globalization.CultureInfo.InvariantCulture, out int index) && index >= 0 && index < batch.Count)
            {
                batch[index].Completion.TrySetResult();
            }
        }

        foreach (SqsBatchResultErrorEntry failed in response.Failed)
        {
            if (int.TryParse(failed.Id, System.Globalization.CultureInfo.InvariantCulture, out int index) && index >= 0 && index < batch.Count)
            {
                batch[index].Completion.TrySetException(new AwsServiceException(
                    AwsErrorKind.Other, failed.Code, failed.Message, HttpStatusCode.OK, "SQS", "SendMessageBatch", null));
            }
        }

        foreach (PendingWrite pending in batch)
        {
            // An entry the response does not mention was not acknowledged: it counts as failed, and is retried.
            pending.Completion.TrySetException(new InvalidOperationException("SQS SendMessageBatch did not report this entry as sent."));
        }
    }

    private async Task<StoredDeadLetter?> DecodeAsync(SqsMessage message, CancellationToken cancellationToken)
    {
        try
        {
            bool claimChecked = message.MessageAttributes.TryGetValue(ClaimCheckAttribute, out SqsMessageAttributeValue? marker) && marker.StringValue == "s3";
            if (claimChecked)
            {
                ClaimCheckPointer pointer = ClaimCheckPointer.FromJson(message.Body);
                S3ClaimCheck claimCheck = _claimCheck ?? throw new InvalidOperationException(
                    $"Message {message.MessageId} holds a pointer to s3://{pointer.Bucket}/{pointer.Key}; give the SQS sink an S3 claim check to read it.");
                DeadLetterEnvelope loaded = await claimCheck.LoadAsync(pointer, cancellationToken).ConfigureAwait(false);
                return new StoredDeadLetter(loaded, new SqsHandle(message.ReceiptHandle, message.MessageId, pointer));
            }

            DeadLetterEnvelope envelope = DeadLetterEnvelopeSerializer.Deserialize(Encoding.UTF8.GetBytes(message.Body));
            return new StoredDeadLetter(envelope, new SqsHandle(message.ReceiptHandle, message.MessageId, null));
        }
        catch (System.Text.Json.JsonException ex)
        {
            SinkLog.ForeignMessage(_logger, SafeText.ForLog(ex), "sqs", SafeText.Escape(message.MessageId));
            return null;
        }
    }

    private async Task ReleaseHandlesAsync(List<string> receiptHandles, CancellationToken cancellationToken)
    {
        for (int start = 0; start < receiptHandles.Count; start += 10)
        {
            var entries = receiptHandles.Skip(start).Take(10)
                .Select((handle, i) => new SqsChangeMessageVisibilityBatchEntry { Id = i.ToString(System.Globalization.CultureInfo.InvariantCulture), ReceiptHandle = handle, VisibilityTimeout = 0 })
                .ToList();
            await _sqs.ChangeMessageVisibilityBatchAsync(_options.QueueUrl, entries, cancellationToken).ConfigureAwait(false);
        }
    }

    private static SqsHandle HandleOf(StoredDeadLetter deadLetter)
    {
        ArgumentNullException.ThrowIfNull(deadLetter);
        return deadLetter.Handle as SqsHandle is { ReceiptHandle.Length: > 0 } handle
            ? handle
            : throw new ArgumentException("The dead letter was not read from this SQS sink (or was already replaced); read it again.", nameof(deadLetter));
    }

    private sealed record SqsHandle(string ReceiptHandle, string MessageId, ClaimCheckPointer? Pointer);

    private sealed class PendingWrite(SqsSendMessageBatchEntry entry, int size, CancellationToken cancellationToken)
    {
        public SqsSendMessageBatchEntry Entry { get; } = entry;

        public int Size { get; } = size;

        public CancellationToken CancellationToken { get; } = cancellationToken;

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
