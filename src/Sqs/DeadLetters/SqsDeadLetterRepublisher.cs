using System.Text;
using StreamLanes.Aws;
using StreamLanes.Sinks;

namespace StreamLanes.Sqs;

/// <summary>
/// Re-publishes dead letters to an SQS queue: the payload (UTF-8 text) as the body, the record's attributes as message
/// attributes; for a FIFO queue the message group is the partition key and the deduplication id is derived from the
/// dead letter's identity, so a retried re-publish is not duplicated.
/// </summary>
public sealed class SqsDeadLetterRepublisher : IDeadLetterRepublisher, IDisposable
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private readonly SqsClient _sqs;
    private readonly string? _queueUrl;
    private readonly bool _ownsClient;

    /// <summary>Creates a republisher with its own SQS client, disposed with the republisher.</summary>
    /// <param name="aws">Region, endpoint, credentials and transport retries of the SQS client; validated.</param>
    /// <param name="queueUrl">The target queue's URL; each dead letter's own queue (its stream, a URL) when <see langword="null"/>.</param>
    public SqsDeadLetterRepublisher(AwsClientOptions aws, string? queueUrl = null)
        : this(new SqsClient(aws ?? throw new ArgumentNullException(nameof(aws))), queueUrl)
    {
        _ownsClient = true;
    }

    /// <summary>Creates a republisher.</summary>
    /// <param name="sqs">The SQS client; owned by the caller.</param>
    /// <param name="queueUrl">The target queue's URL; each dead letter's own queue (its stream, a URL) when <see langword="null"/>.</param>
    internal SqsDeadLetterRepublisher(SqsClient sqs, string? queueUrl = null)
    {
        ArgumentNullException.ThrowIfNull(sqs);
        _sqs = sqs;
        _queueUrl = queueUrl;
    }

    /// <summary>Disposes the SQS client when the republisher created it.</summary>
    public void Dispose()
    {
        if (_ownsClient)
        {
            _sqs.Dispose();
        }
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
                MessageAttributes = WithTraceContext(envelope.Attributes.Count == 0
                    ? null
                    : envelope.Attributes.Where(static a => a.Value.Length > 0).Take(10)
                        .ToDictionary(static a => a.Key, static a => new SqsMessageAttributeValue { DataType = "String", StringValue = a.Value })),
                MessageGroupId = fifo ? SqsNaming.MessageGroupFor(envelope.PartitionKey) : null,
                MessageDeduplicationId = fifo ? SqsNaming.Hash("republish#" + envelope.Id) : null,
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The republished message carries the republish span's <c>traceparent</c> (replacing the original producer's, which
    /// that span links to), so that its next processing links back through the republish to the dead-lettered one.
    /// </summary>
    private static Dictionary<string, SqsMessageAttributeValue>? WithTraceContext(Dictionary<string, SqsMessageAttributeValue>? attributes)
    {
        if (RedriveTracing.CurrentPublishTraceParent() is not string traceParent)
        {
            return attributes;
        }

        attributes ??= new Dictionary<string, SqsMessageAttributeValue>(StringComparer.Ordinal);
        attributes.Remove("tracestate");
        if (!attributes.ContainsKey("traceparent") && attributes.Count >= 10)
        {
            // SQS takes at most 10 message attributes: the trace context is the one to give up.
            return attributes;
        }

        attributes["traceparent"] = new SqsMessageAttributeValue { DataType = "String", StringValue = traceParent };
        return attributes;
    }
}
