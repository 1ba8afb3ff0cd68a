using System.Text.Json.Serialization;
using StreamLanes.Aws;

namespace StreamLanes.Kinesis;

// Enhanced fan-out: registered consumers and SubscribeToShard. Internal until the fan-out read mode uses them.

/// <summary>An enhanced fan-out consumer registered on a stream.</summary>
internal sealed record KinesisStreamConsumer
{
    public string ConsumerName { get; init => field = value ?? string.Empty; } = string.Empty;

    [JsonPropertyName("ConsumerARN")]
    public string ConsumerArn { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary><c>CREATING</c>, <c>ACTIVE</c> or <c>DELETING</c>.</summary>
    public string ConsumerStatus { get; init => field = value ?? string.Empty; } = string.Empty;

    [JsonConverter(typeof(EpochSecondsConverter))]
    public DateTimeOffset? ConsumerCreationTimestamp { get; init; }

    public bool IsActive => string.Equals(ConsumerStatus, "ACTIVE", StringComparison.Ordinal);
}

/// <summary>Where a subscription starts: a shard-iterator type and, where it needs one, a sequence number or time.</summary>
internal sealed record KinesisSubscriptionStart(
    KinesisShardIteratorType Type,
    string? SequenceNumber = null,
    [property: JsonConverter(typeof(EpochSecondsConverter))] DateTimeOffset? Timestamp = null);

/// <summary>One <c>SubscribeToShardEvent</c>: a batch of records (possibly none) and where to continue from.</summary>
internal sealed record KinesisSubscribeToShardEvent
{
    public IReadOnlyList<KinesisRecord> Records { get; init => field = value ?? []; } = [];

    /// <summary>Resubscribe from here (AFTER_SEQUENCE_NUMBER) to continue with no gap and no repeat.</summary>
    public string? ContinuationSequenceNumber { get; init; }

    public long? MillisBehindLatest { get; init; }

    /// <summary>Set once the shard is closed and every record of it was delivered: its children.</summary>
    public IReadOnlyList<KinesisChildShard>? ChildShards { get; init; }
}

internal sealed record KinesisStreamConsumerRequest(
    [property: JsonPropertyName("StreamARN")] string? StreamArn,
    string? ConsumerName,
    [property: JsonPropertyName("ConsumerARN")] string? ConsumerArn);

internal sealed record KinesisRegisterStreamConsumerResponse
{
    public KinesisStreamConsumer Consumer { get; init => field = value ?? new(); } = new();
}

internal sealed record KinesisDescribeStreamConsumerResponse
{
    public KinesisStreamConsumer ConsumerDescription { get; init => field = value ?? new(); } = new();
}

internal sealed record KinesisSubscribeToShardRequest(
    [property: JsonPropertyName("ConsumerARN")] string ConsumerArn,
    string ShardId,
    KinesisSubscriptionStart StartingPosition);
