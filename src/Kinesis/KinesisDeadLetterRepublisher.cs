using StreamLanes.Aws;
using StreamLanes.Sinks;

namespace StreamLanes.Kinesis;

/// <summary>Re-publishes dead letters to a Kinesis stream with their partition key (PutRecord), so they land on the key's shard in order.</summary>
public sealed class KinesisDeadLetterRepublisher : IDeadLetterRepublisher, IDisposable
{
    private readonly KinesisClient _kinesis;
    private readonly string? _streamName;
    private readonly bool _ownsClient;

    /// <summary>Creates a republisher with its own Kinesis client, disposed with the republisher.</summary>
    /// <param name="aws">Region, endpoint, credentials and transport retries of the Kinesis client; validated.</param>
    /// <param name="streamName">The target stream's name or ARN; each dead letter's own stream when <see langword="null"/>.</param>
    public KinesisDeadLetterRepublisher(AwsClientOptions aws, string? streamName = null)
        : this(new KinesisClient(aws ?? throw new ArgumentNullException(nameof(aws))), streamName)
    {
        _ownsClient = true;
    }

    /// <summary>Creates a republisher.</summary>
    /// <param name="kinesis">The Kinesis client; owned by the caller.</param>
    /// <param name="streamName">The target stream's name or ARN; each dead letter's own stream when <see langword="null"/>.</param>
    internal KinesisDeadLetterRepublisher(KinesisClient kinesis, string? streamName = null)
    {
        ArgumentNullException.ThrowIfNull(kinesis);
        _kinesis = kinesis;
        _streamName = streamName;
    }

    /// <summary>Disposes the Kinesis client when the republisher created it.</summary>
    public void Dispose()
    {
        if (_ownsClient)
        {
            _kinesis.Dispose();
        }
    }

    /// <inheritdoc/>
    public async ValueTask RepublishAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        await _kinesis.PutRecordAsync(_streamName ?? envelope.Stream, envelope.PartitionKey, envelope.Payload, cancellationToken: cancellationToken).ConfigureAwait(false);
    }
}
