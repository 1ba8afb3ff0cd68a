using System.Text.Json;
using System.Text.Json.Serialization;
using StreamLanes.Aws;

namespace StreamLanes.DynamoDbStreams;

// Response properties read "init => field = value ?? default": the JSON source generator sets every init-only
// property, passing null for fields absent from the response, which would break their non-null contract.

/// <summary>Where a DynamoDB Streams shard iterator starts.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DynamoDbShardIteratorType>))]
internal enum DynamoDbShardIteratorType
{
    /// <summary>At the oldest record still in the shard (24 hours at most).</summary>
    [JsonStringEnumMemberName("TRIM_HORIZON")]
    TrimHorizon,

    /// <summary>Just after the newest record.</summary>
    [JsonStringEnumMemberName("LATEST")]
    Latest,

    /// <summary>At a given sequence number.</summary>
    [JsonStringEnumMemberName("AT_SEQUENCE_NUMBER")]
    AtSequenceNumber,

    /// <summary>Just after a given sequence number (resuming from a checkpoint).</summary>
    [JsonStringEnumMemberName("AFTER_SEQUENCE_NUMBER")]
    AfterSequenceNumber,
}

/// <summary>A DynamoDB Streams shard.</summary>
internal sealed record DynamoDbShard
{
    /// <summary>The shard id.</summary>
    public string ShardId { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>The shard this one follows, if any: read it to its end first.</summary>
    public string? ParentShardId { get; init; }

    /// <summary>The shard's sequence numbers; closed once the ending one is set.</summary>
    public SequenceNumberRange SequenceNumberRange { get; init => field = value ?? new(); } = new();

    /// <summary>Whether the shard is closed: it takes no more records.</summary>
    [JsonIgnore]
    public bool IsClosed => SequenceNumberRange.EndingSequenceNumber is not null;
}

/// <summary>One attribute of a table's primary key.</summary>
internal sealed record DynamoDbKeySchemaElement
{
    /// <summary>The attribute's name.</summary>
    public string AttributeName { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary><c>HASH</c> (partition key) or <c>RANGE</c> (sort key).</summary>
    public string KeyType { get; init => field = value ?? string.Empty; } = string.Empty;
}

/// <summary>A stream's description, as DescribeStream returns it (one page of shards).</summary>
internal sealed record DynamoDbStreamDescription
{
    /// <summary>The stream's ARN.</summary>
    public string StreamArn { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>The stream's label (a timestamp).</summary>
    public string? StreamLabel { get; init; }

    /// <summary><c>ENABLING</c>, <c>ENABLED</c>, <c>DISABLING</c> or <c>DISABLED</c>.</summary>
    public string StreamStatus { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary><c>KEYS_ONLY</c>, <c>NEW_IMAGE</c>, <c>OLD_IMAGE</c> or <c>NEW_AND_OLD_IMAGES</c>.</summary>
    public string? StreamViewType { get; init; }

    /// <summary>When the stream was requested.</summary>
    [JsonConverter(typeof(EpochSecondsConverter))]
    public DateTimeOffset? CreationRequestDateTime { get; init; }

    /// <summary>The table the stream belongs to.</summary>
    public string? TableName { get; init; }

    /// <summary>The table's key schema.</summary>
    public IReadOnlyList<DynamoDbKeySchemaElement> KeySchema { get; init => field = value ?? []; } = [];

    /// <summary>The shards of this page (or of all pages, from <see cref="DynamoDbStreamsClient.DescribeStreamAllShardsAsync"/>).</summary>
    public IReadOnlyList<DynamoDbShard> Shards { get; init => field = value ?? []; } = [];

    /// <summary>The last shard of this page when more follow; <see langword="null"/> on the last page.</summary>
    public string? LastEvaluatedShardId { get; init; }
}

/// <summary>A stream, as ListStreams returns it.</summary>
internal sealed record DynamoDbStreamSummary
{
    /// <summary>The stream's ARN.</summary>
    public string StreamArn { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>The table the stream belongs to.</summary>
    public string? TableName { get; init; }

    /// <summary>The stream's label.</summary>
    public string? StreamLabel { get; init; }
}

/// <summary>One page of ListStreams.</summary>
internal sealed record DynamoDbListStreamsResponse
{
    /// <summary>The streams of this page.</summary>
    public IReadOnlyList<DynamoDbStreamSummary> Streams { get; init => field = value ?? []; } = [];

    /// <summary>The last stream of this page when more follow.</summary>
    public string? LastEvaluatedStreamArn { get; init; }
}

/// <summary>
/// The change carried by a stream record (the API's <c>StreamRecord</c>). Attribute values stay in DynamoDB's JSON
/// form, e.g. <c>{"S":"abc"}</c> or <c>{"N":"42"}</c>.
/// </summary>
internal sealed record DynamoDbStreamRecord
{
    /// <summary>The item's primary key attributes.</summary>
    public IReadOnlyDictionary<string, JsonElement> Keys { get; init => field = value ?? new Dictionary<string, JsonElement>(); } = new Dictionary<string, JsonElement>();

    /// <summary>The item after the change, for NEW_IMAGE and NEW_AND_OLD_IMAGES streams.</summary>
    public IReadOnlyDictionary<string, JsonElement>? NewImage { get; init; }

    /// <summary>The item before the change, for OLD_IMAGE and NEW_AND_OLD_IMAGES streams.</summary>
    public IReadOnlyDictionary<string, JsonElement>? OldImage { get; init; }

    /// <summary>The record's sequence number, a decimal string: compare numerically.</summary>
    public string SequenceNumber { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>When the change was made, approximately.</summary>
    [JsonConverter(typeof(EpochSecondsConverter))]
    public DateTimeOffset? ApproximateCreationDateTime { get; init; }

    /// <summary>The stream's view type.</summary>
    public string? StreamViewType { get; init; }

    /// <summary>The size of the record, in bytes.</summary>
    public long? SizeBytes { get; init; }
}

/// <summary>Who made a change (for example the TTL service).</summary>
public sealed record DynamoDbUserIdentity
{
    /// <summary>The principal, e.g. <c>dynamodb.amazonaws.com</c> for TTL deletions.</summary>
    public string? PrincipalId { get; init; }

    /// <summary>The identity type, e.g. <c>Service</c>.</summary>
    public string? Type { get; init; }
}

/// <summary>A record read from a DynamoDB stream (the API's <c>Record</c>).</summary>
internal sealed record DynamoDbChangeRecord
{
    /// <summary>The record's unique id.</summary>
    [JsonPropertyName("eventID")]
    public string EventId { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary><c>INSERT</c>, <c>MODIFY</c> or <c>REMOVE</c>.</summary>
    [JsonPropertyName("eventName")]
    public string EventName { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>The record format's version.</summary>
    [JsonPropertyName("eventVersion")]
    public string? EventVersion { get; init; }

    /// <summary><c>aws:dynamodb</c>.</summary>
    [JsonPropertyName("eventSource")]
    public string? EventSource { get; init; }

    /// <summary>The region of the table.</summary>
    [JsonPropertyName("awsRegion")]
    public string? AwsRegion { get; init; }

    /// <summary>The change itself.</summary>
    [JsonPropertyName("dynamodb")]
    public DynamoDbStreamRecord Dynamodb { get; init => field = value ?? new(); } = new();

    /// <summary>Who made the change, when it was a service (TTL).</summary>
    [JsonPropertyName("userIdentity")]
    public DynamoDbUserIdentity? UserIdentity { get; init; }
}

/// <summary>The result of DynamoDB Streams GetRecords.</summary>
internal sealed record DynamoDbGetRecordsResponse
{
    /// <summary>The records read, possibly none.</summary>
    public IReadOnlyList<DynamoDbChangeRecord> Records { get; init => field = value ?? []; } = [];

    /// <summary>The iterator for the next call; <see langword="null"/> once a closed shard has been read to its end.</summary>
    public string? NextShardIterator { get; init; }
}

internal sealed record DynamoDbDescribeStreamRequest(string StreamArn, int? Limit, string? ExclusiveStartShardId);

internal sealed record DynamoDbDescribeStreamResponse
{
    public DynamoDbStreamDescription StreamDescription { get; init => field = value ?? new(); } = new();
}

internal sealed record DynamoDbListStreamsRequest(string? TableName, int? Limit, string? ExclusiveStartStreamArn);

internal sealed record DynamoDbGetShardIteratorRequest(
    string StreamArn,
    string ShardId,
    DynamoDbShardIteratorType ShardIteratorType,
    string? SequenceNumber);

internal sealed record DynamoDbGetShardIteratorResponse
{
    public string? ShardIterator { get; init; }
}

internal sealed record DynamoDbGetRecordsRequest(string ShardIterator, int? Limit);
