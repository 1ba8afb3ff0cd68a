using StreamLanes.Checkpointing;
using StreamLanes.DynamoDb;

namespace StreamLanes.Kinesis;

/// <summary>
/// One stream a Kinesis source reads: its name, where its new shards start, its lease keys and, in enhanced fan-out
/// mode, its registered stream consumer.
/// </summary>
internal sealed class KinesisStreamState
{
    public KinesisStreamState(string name, string arn, string? streamId, KinesisStartingPosition startingPosition, DateTimeOffset? startingTimestamp)
    {
        Name = name;
        Arn = arn;
        StreamId = streamId;
        StartingTimestamp = startingTimestamp;
        InitialCheckpoint = startingPosition switch
        {
            KinesisStartingPosition.Latest => Lease.Latest,
            KinesisStartingPosition.AtTimestamp => Lease.AtTimestamp,
            _ => Lease.TrimHorizon,
        };
        Tag = new KeyValuePair<string, object?>("stream", name);
    }

    /// <summary>The stream's name or ARN as configured: what records, logs and dead letters name.</summary>
    public string Name { get; }

    /// <summary>The stream's ARN (DescribeStreamSummary).</summary>
    public string Arn { get; }

    /// <summary>KCL's stream identifier (<c>account-id:stream-name:creation-epoch</c>) in multi-stream mode; null for one stream.</summary>
    public string? StreamId { get; }

    /// <summary>The checkpoint a new shard without parents starts with.</summary>
    public string InitialCheckpoint { get; }

    public DateTimeOffset? StartingTimestamp { get; }

    /// <summary>The metrics tag naming the stream.</summary>
    public KeyValuePair<string, object?> Tag { get; }

    /// <summary>The registered enhanced fan-out consumer, once known.</summary>
    public KinesisStreamConsumer? FanOutConsumer { get => Volatile.Read(ref field); set => Volatile.Write(ref field, value); }

    /// <summary>The lease key of one of the stream's shards: the bare shard id for one stream, KCL's multi-stream key otherwise.</summary>
    public string LeaseKeyOf(string shardId) => StreamId is null ? shardId : MultiStreamLeaseKey.Of(StreamId, shardId);

    /// <summary>The bare shard id of one of the stream's lease keys.</summary>
    public string ShardIdOf(string leaseKey) => StreamId is null ? leaseKey : leaseKey[(StreamId.Length + 1)..];

    /// <summary>
    /// KCL's stream identifier from the stream's ARN (<c>arn:aws:kinesis:region:account:stream/name</c>) and creation
    /// time, unless given.
    /// </summary>
    /// <exception cref="InvalidOperationException">The ARN or the creation time is missing and was not given.</exception>
    public static string StreamIdOf(KinesisStreamOptions stream, KinesisStreamSummary summary)
    {
        string[] arn = summary.StreamArn.Split(':');
        string? account = stream.AccountId ?? (arn.Length >= 6 && arn[4].Length > 0 ? arn[4] : null);
        long? epoch = stream.CreationEpoch ?? summary.StreamCreationTimestamp?.ToUnixTimeSeconds();
        if (account is null || epoch is not > 0)
        {
            throw new InvalidOperationException($"Kinesis stream '{stream.StreamName}': its account id or creation time is unknown (ARN '{summary.StreamArn}'); set AccountId and CreationEpoch for it.");
        }

        string name = summary.StreamName is { Length: > 0 } described ? described : KinesisStreamOptions.NameOf(stream.StreamName);
        return MultiStreamLeaseKey.StreamId(account, name, epoch.Value);
    }
}
