using System.Text.Json.Serialization;
using StreamLanes.Aws;

namespace StreamLanes.Kinesis;

// Response properties read "init => field = value ?? default": the JSON source generator sets every init-only
// property, passing null for fields absent from the response, which would break their non-null contract.

/// <summary>Where a Kinesis shard iterator starts.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<KinesisShardIteratorType>))]
internal enum KinesisShardIteratorType
{
    /// <summary>At the oldest record still in the shard.</summary>
    [JsonStringEnumMemberName("TRIM_HORIZON")]
    TrimHorizon,

    /// <summary>Just after the newest record: only records written from now on.</summary>
    [JsonStringEnumMemberName("LATEST")]
    Latest,

    /// <summary>At a given sequence number.</summary>
    [JsonStringEnumMemberName("AT_SEQUENCE_NUMBER")]
    AtSequenceNumber,

    /// <summary>Just after a given sequence number (resuming from a checkpoint).</summary>
    [JsonStringEnumMemberName("AFTER_SEQUENCE_NUMBER")]
    AfterSequenceNumber,

    /// <summary>At the first record written at or after a given time.</summary>
    [JsonStringEnumMemberName("AT_TIMESTAMP")]
    AtTimestamp,
}

/// <summary>Which shards ListShards returns.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<KinesisShardFilterType>))]
internal enum KinesisShardFilterType
{
    /// <summary>Shards after <see cref="KinesisShardFilter.ShardId"/>.</summary>
    [JsonStringEnumMemberName("AFTER_SHARD_ID")]
    AfterShardId,

    /// <summary>Shards open at the trim horizon.</summary>
    [JsonStringEnumMemberName("AT_TRIM_HORIZON")]
    AtTrimHorizon,

    /// <summary>All shards from the trim horizon on, including closed ones.</summary>
    [JsonStringEnumMemberName("FROM_TRIM_HORIZON")]
    FromTrimHorizon,

    /// <summary>Only the currently open shards.</summary>
    [JsonStringEnumMemberName("AT_LATEST")]
    AtLatest,

    /// <summary>Shards open at <see cref="KinesisShardFilter.Timestamp"/>.</summary>
    [JsonStringEnumMemberName("AT_TIMESTAMP")]
    AtTimestamp,

    /// <summary>Shards open at or after <see cref="KinesisShardFilter.Timestamp"/>.</summary>
    [JsonStringEnumMemberName("FROM_TIMESTAMP")]
    FromTimestamp,
}

/// <summary>A ListShards filter (the API's <c>ShardFilter</c>).</summary>
internal sealed record KinesisShardFilter
{
    /// <summary>The kind of filter.</summary>
    public required KinesisShardFilterType Type { get; init; }

    /// <summary>The shard id, for <see cref="KinesisShardFilterType.AfterShardId"/>.</summary>
    public string? ShardId { get; init; }

    /// <summary>The time, for <see cref="KinesisShardFilterType.AtTimestamp"/> and <see cref="KinesisShardFilterType.FromTimestamp"/>.</summary>
    [JsonConverter(typeof(EpochSecondsConverter))]
    public DateTimeOffset? Timestamp { get; init; }
}

/// <summary>A range of 128-bit hash keys, as decimal strings.</summary>
internal sealed record HashKeyRange
{
    /// <summary>The lowest hash key of the range.</summary>
    public string StartingHashKey { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>The highest hash key of the range.</summary>
    public string EndingHashKey { get; init => field = value ?? string.Empty; } = string.Empty;
}

/// <summary>A Kinesis shard, as ListShards returns it.</summary>
internal sealed record KinesisShard
{
    /// <summary>The shard id, e.g. <c>shardId-000000000000</c>.</summary>
    public string ShardId { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>The shard this one was split from or merged from, if any.</summary>
    public string? ParentShardId { get; init; }

    /// <summary>The second parent of a shard created by a merge.</summary>
    public string? AdjacentParentShardId { get; init; }

    /// <summary>The hash keys the shard owns.</summary>
    public HashKeyRange HashKeyRange { get; init => field = value ?? new(); } = new();

    /// <summary>The shard's sequence numbers.</summary>
    public SequenceNumberRange SequenceNumberRange { get; init => field = value ?? new(); } = new();

    /// <summary>Whether the shard is closed (split or merged): it takes no more records.</summary>
    [JsonIgnore]
    public bool IsClosed => SequenceNumberRange.EndingSequenceNumber is not null;
}

/// <summary>A shard created from a closed shard, reported by GetRecords at the end of its parent.</summary>
internal sealed record KinesisChildShard
{
    /// <summary>The child shard's id.</summary>
    public string ShardId { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>The child's parents (one for a split, two for a merge).</summary>
    public IReadOnlyList<string> ParentShards { get; init => field = value ?? []; } = [];

    /// <summary>The hash keys the child owns.</summary>
    public HashKeyRange HashKeyRange { get; init => field = value ?? new(); } = new();
}

/// <summary>A record read from a Kinesis shard.</summary>
internal sealed record KinesisRecord
{
    /// <summary>The record's sequence number, a decimal string of up to 128 bits: compare numerically.</summary>
    public string SequenceNumber { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>When Kinesis accepted the record.</summary>
    [JsonConverter(typeof(EpochSecondsConverter))]
    public DateTimeOffset? ApproximateArrivalTimestamp { get; init; }

    /// <summary>The payload (base64 on the wire).</summary>
    public ReadOnlyMemory<byte> Data { get; init; }

    /// <summary>The partition key the producer gave.</summary>
    public string PartitionKey { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary><c>NONE</c> or <c>KMS</c>, when reported.</summary>
    public string? EncryptionType { get; init; }
}

/// <summary>The result of GetRecords.</summary>
internal sealed record KinesisGetRecordsResponse
{
    /// <summary>The records read, possibly none.</summary>
    public IReadOnlyList<KinesisRecord> Records { get; init => field = value ?? []; } = [];

    /// <summary>The iterator for the next call; <see langword="null"/> once a closed shard has been read to its end.</summary>
    public string? NextShardIterator { get; init; }

    /// <summary>How far behind the tip of the shard this response is.</summary>
    public long? MillisBehindLatest { get; init; }

    /// <summary>At the end of a closed shard: the shards that continue it.</summary>
    public IReadOnlyList<KinesisChildShard>? ChildShards { get; init; }
}

/// <summary>The stream mode: <c>PROVISIONED</c> or <c>ON_DEMAND</c>.</summary>
internal sealed record KinesisStreamModeDetails
{
    /// <summary><c>PROVISIONED</c> or <c>ON_DEMAND</c>.</summary>
    public string StreamMode { get; init => field = value ?? "PROVISIONED"; } = "PROVISIONED";
}

/// <summary>A stream's summary, as DescribeStreamSummary returns it.</summary>
internal sealed record KinesisStreamSummary
{
    /// <summary>The stream's name.</summary>
    public string StreamName { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>The stream's ARN.</summary>
    [JsonPropertyName("StreamARN")]
    public string StreamArn { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary><c>CREATING</c>, <c>DELETING</c>, <c>ACTIVE</c> or <c>UPDATING</c>.</summary>
    public string StreamStatus { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>The stream mode.</summary>
    public KinesisStreamModeDetails? StreamModeDetails { get; init; }

    /// <summary>How long records stay in the stream, in hours.</summary>
    public int RetentionPeriodHours { get; init; }

    /// <summary>When the stream was created.</summary>
    [JsonConverter(typeof(EpochSecondsConverter))]
    public DateTimeOffset? StreamCreationTimestamp { get; init; }

    /// <summary><c>NONE</c> or <c>KMS</c>.</summary>
    public string? EncryptionType { get; init; }

    /// <summary>The number of open shards.</summary>
    public int OpenShardCount { get; init; }

    /// <summary>The number of enhanced fan-out consumers.</summary>
    public int? ConsumerCount { get; init; }

    /// <summary>Whether the stream is <c>ACTIVE</c>.</summary>
    [JsonIgnore]
    public bool IsActive => string.Equals(StreamStatus, "ACTIVE", StringComparison.Ordinal);
}

/// <summary>One page of ListShards.</summary>
internal sealed record KinesisListShardsResponse
{
    /// <summary>The shards of this page.</summary>
    public IReadOnlyList<KinesisShard> Shards { get; init => field = value ?? []; } = [];

    /// <summary>The token for the next page; <see langword="null"/> on the last page.</summary>
    public string? NextToken { get; init; }
}

/// <summary>A ListShards request for one page. Give either a stream (name or ARN) or a <see cref="NextToken"/>.</summary>
internal sealed record KinesisListShardsRequest
{
    /// <summary>The stream's name. Must be left out when <see cref="NextToken"/> is set.</summary>
    public string? StreamName { get; init; }

    /// <summary>The stream's ARN, instead of its name.</summary>
    [JsonPropertyName("StreamARN")]
    public string? StreamArn { get; init; }

    /// <summary>The token from the previous page.</summary>
    public string? NextToken { get; init; }

    /// <summary>List the shards after this one.</summary>
    public string? ExclusiveStartShardId { get; init; }

    /// <summary>The page size (1 to 10,000; the service's default is 1,000).</summary>
    public int? MaxResults { get; init; }

    /// <summary>Which shards to list.</summary>
    public KinesisShardFilter? ShardFilter { get; init; }
}

/// <summary>A record to write with PutRecords.</summary>
internal sealed record KinesisPutRecordsEntry
{
    /// <summary>The payload (sent as base64).</summary>
    public required ReadOnlyMemory<byte> Data { get; init; }

    /// <summary>The partition key, which picks the shard and, in StreamLanes, the key lane.</summary>
    public required string PartitionKey { get; init; }

    /// <summary>A hash key that overrides the partition key's hash for picking the shard.</summary>
    public string? ExplicitHashKey { get; init; }
}

/// <summary>The outcome of one PutRecords entry: a sequence number, or an error code.</summary>
internal sealed record KinesisPutRecordsResultEntry
{
    /// <summary>The record's sequence number, when written.</summary>
    public string? SequenceNumber { get; init; }

    /// <summary>The shard the record went to, when written.</summary>
    public string? ShardId { get; init; }

    /// <summary>
    /// Why the record was not written: <c>ProvisionedThroughputExceededException</c> or <c>InternalFailure</c>.
    /// </summary>
    public string? ErrorCode { get; init; }

    /// <summary>The error's message.</summary>
    public string? ErrorMessage { get; init; }

    /// <summary>Whether this entry failed.</summary>
    [JsonIgnore]
    public bool Failed => ErrorCode is not null;
}

/// <summary>The result of PutRecords: entries in the order of the request.</summary>
internal sealed record KinesisPutRecordsResponse
{
    /// <summary>How many entries failed; retry those.</summary>
    public int FailedRecordCount { get; init; }

    /// <summary>One result per request entry, in order.</summary>
    public IReadOnlyList<KinesisPutRecordsResultEntry> Records { get; init => field = value ?? []; } = [];

    /// <summary><c>NONE</c> or <c>KMS</c>.</summary>
    public string? EncryptionType { get; init; }
}

/// <summary>The result of PutRecord.</summary>
internal sealed record KinesisPutRecordResponse
{
    /// <summary>The shard the record went to.</summary>
    public string ShardId { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>The record's sequence number.</summary>
    public string SequenceNumber { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary><c>NONE</c> or <c>KMS</c>.</summary>
    public string? EncryptionType { get; init; }
}

internal sealed record KinesisCreateStreamRequest(
    string StreamName,
    int? ShardCount,
    KinesisStreamModeDetails? StreamModeDetails);

internal sealed record KinesisDeleteStreamRequest(
    string? StreamName,
    [property: JsonPropertyName("StreamARN")] string? StreamArn,
    bool? EnforceConsumerDeletion);

internal sealed record KinesisDescribeStreamSummaryRequest(
    string? StreamName,
    [property: JsonPropertyName("StreamARN")] string? StreamArn);

internal sealed record KinesisDescribeStreamSummaryResponse
{
    public KinesisStreamSummary StreamDescriptionSummary { get; init => field = value ?? new(); } = new();
}

internal sealed record KinesisGetShardIteratorRequest(
    string? StreamName,
    [property: JsonPropertyName("StreamARN")] string? StreamArn,
    string ShardId,
    KinesisShardIteratorType ShardIteratorType,
    string? StartingSequenceNumber,
    [property: JsonConverter(typeof(EpochSecondsConverter))] DateTimeOffset? Timestamp);

internal sealed record KinesisGetShardIteratorResponse
{
    public string? ShardIterator { get; init; }
}

internal sealed record KinesisGetRecordsRequest(
    string ShardIterator,
    int? Limit,
    [property: JsonPropertyName("StreamARN")] string? StreamArn);

internal sealed record KinesisPutRecordRequest(
    string? StreamName,
    [property: JsonPropertyName("StreamARN")] string? StreamArn,
    ReadOnlyMemory<byte> Data,
    string PartitionKey,
    string? ExplicitHashKey,
    string? SequenceNumberForOrdering);

internal sealed record KinesisPutRecordsRequest(
    string? StreamName,
    [property: JsonPropertyName("StreamARN")] string? StreamArn,
    IReadOnlyList<KinesisPutRecordsEntry> Records);

internal sealed record KinesisSplitShardRequest(
    string? StreamName,
    [property: JsonPropertyName("StreamARN")] string? StreamArn,
    string ShardToSplit,
    string NewStartingHashKey);

internal sealed record KinesisMergeShardsRequest(
    string? StreamName,
    [property: JsonPropertyName("StreamARN")] string? StreamArn,
    string ShardToMerge,
    string AdjacentShardToMerge);
