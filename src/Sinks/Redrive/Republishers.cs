using System.Text;
using StreamLanes.Aws;

namespace StreamLanes.Sinks;

/// <summary>Re-publishes dead letters to a Kinesis stream with their partition key (PutRecord), so they land on the key's shard in order.</summary>
public sealed class KinesisDeadLetterRepublisher : IDeadLetterRepublisher
{
    private readonly KinesisClient _kinesis;
    private readonly string? _streamName;

    /// <summary>Creates a republisher.</summary>
    /// <param name="kinesis">The Kinesis client; owned by the caller.</param>
    /// <param name="streamName">The target stream's name or ARN; each dead letter's own stream when <see langword="null"/>.</param>
    public KinesisDeadLetterRepublisher(KinesisClient kinesis, string? streamName = null)
    {
        ArgumentNullException.ThrowIfNull(kinesis);
        _kinesis = kinesis;
        _streamName = streamName;
    }

    /// <inheritdoc/>
    public async ValueTask RepublishAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        await _kinesis.PutRecordAsync(_streamName ?? envelope.Stream, envelope.PartitionKey, envelope.Payload, cancellationToken: cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>
/// Re-publishes dead letters to an SQS queue: the payload (UTF-8 text) as the body, the record's attributes as message
/// attributes; for a FIFO queue the message group is the partition key and the deduplication id is derived from the
/// dead letter's identity, so a retried re-publish is not duplicated.
/// </summary>
public sealed class SqsDeadLetterRepublisher : IDeadLetterRepublisher
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private readonly SqsClient _sqs;
    private readonly string? _queueUrl;

    /// <summary>Creates a republisher.</summary>
    /// <param name="sqs">The SQS client; owned by the caller.</param>
    /// <param name="queueUrl">The target queue's URL; each dead letter's own queue (its stream, a URL) when <see langword="null"/>.</param>
    public SqsDeadLetterRepublisher(SqsClient sqs, string? queueUrl = null)
    {
        ArgumentNullException.ThrowIfNull(sqs);
        _sqs = sqs;
        _queueUrl = queueUrl;
    }

    /// <inheritdoc/>
    public async ValueTask RepublishAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        string queueUrl = _queueUrl ?? (Uri.TryCreate(envelope.Stream, UriKind.Absolute, out _)
            ? envelope.Stream
            : await _sqs.GetQueueUrlAsync(envelope.Stream, cancellationToken).ConfigureAwait(false));
        string body;
        try
        {
            body = StrictUtf8.GetString(envelope.Payload.Span);
        }
        catch (DecoderFallbackException ex)
        {
            throw new InvalidOperationException($"The payload of {envelope.Id} is not UTF-8 text, so it cannot be an SQS message body.", ex);
        }

        bool fifo = SqsNaming.IsFifo(queueUrl);
        await _sqs.SendMessageAsync(
            new SqsSendMessageRequest
            {
                QueueUrl = queueUrl,
                MessageBody = body,
                MessageAttributes = envelope.Attributes.Count == 0
                    ? null
                    : envelope.Attributes.Where(static a => a.Value.Length > 0).Take(10)
                        .ToDictionary(static a => a.Key, static a => new SqsMessageAttributeValue { DataType = "String", StringValue = a.Value }),
                MessageGroupId = fifo ? SqsNaming.MessageGroupFor(envelope.PartitionKey) : null,
                MessageDeduplicationId = fifo ? SqsNaming.Hash("republish#" + envelope.Id) : null,
            },
            cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>
/// Re-publishes each dead letter to the stream or queue it came from, by its source kind: Kinesis records with
/// PutRecord, SQS messages with SendMessage. Other sources (in-memory, DynamoDB Streams) cannot be written back and fail.
/// </summary>
public sealed class SourceDeadLetterRepublisher : IDeadLetterRepublisher
{
    private readonly KinesisDeadLetterRepublisher? _kinesis;
    private readonly SqsDeadLetterRepublisher? _sqs;

    /// <summary>Creates a republisher.</summary>
    /// <param name="kinesis">For Kinesis dead letters; those fail when <see langword="null"/>.</param>
    /// <param name="sqs">For SQS dead letters; those fail when <see langword="null"/>.</param>
    public SourceDeadLetterRepublisher(KinesisClient? kinesis, SqsClient? sqs)
    {
        _kinesis = kinesis is null ? null : new KinesisDeadLetterRepublisher(kinesis);
        _sqs = sqs is null ? null : new SqsDeadLetterRepublisher(sqs);
    }

    /// <inheritdoc/>
    public ValueTask RepublishAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        IDeadLetterRepublisher? target = envelope.SourceKind switch
        {
            "Kinesis" => _kinesis,
            "Sqs" => _sqs,
            _ => throw new NotSupportedException($"Dead letter {envelope.Id} came from a {envelope.SourceKind} source, which cannot be written back to; replay it through the consumer's handler instead."),
        };
        return target?.RepublishAsync(envelope, cancellationToken)
            ?? throw new InvalidOperationException($"Dead letter {envelope.Id} came from {envelope.SourceKind}, and no {envelope.SourceKind} client was given.");
    }
}
