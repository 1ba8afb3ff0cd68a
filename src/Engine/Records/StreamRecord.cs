using StreamLanes.Checkpointing;

namespace StreamLanes;

/// <summary>One record read from a source: immutable, with its exact payload bytes and where it came from.</summary>
public sealed class StreamRecord
{
    private static readonly IReadOnlyDictionary<string, string> NoAttributes = new Dictionary<string, string>();

    /// <summary>Initializes a record.</summary>
    /// <param name="sourceKind">The kind of source.</param>
    /// <param name="streamName">The stream, table stream or queue.</param>
    /// <param name="shardId">The shard id (for SQS, the queue's receiver shard).</param>
    /// <param name="position">The sequence and sub-sequence number; not <see cref="SequenceNumber.None"/> nor <see cref="SequenceNumber.ShardEnd"/>.</param>
    /// <param name="partitionKey">The partition key (for SQS FIFO, the message group id); records of one key are handled in order.</param>
    /// <param name="data">The payload bytes, exactly as read.</param>
    /// <param name="arrivalTime">When the record reached the source.</param>
    /// <param name="attributes">Source attributes (e.g. SQS message attributes); <see langword="null"/> for none.</param>
    public StreamRecord(
        SourceKind sourceKind,
        string streamName,
        string shardId,
        SequenceNumber position,
        string partitionKey,
        ReadOnlyMemory<byte> data,
        DateTimeOffset arrivalTime,
        IReadOnlyDictionary<string, string>? attributes = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(streamName);
        ArgumentException.ThrowIfNullOrEmpty(shardId);
        ArgumentNullException.ThrowIfNull(partitionKey);
        if (position.IsNone || position.IsShardEnd)
        {
            throw new ArgumentException("A record needs a real sequence number.", nameof(position));
        }

        SourceKind = sourceKind;
        StreamName = streamName;
        ShardId = shardId;
        Position = position;
        PartitionKey = partitionKey;
        Data = data;
        ArrivalTime = arrivalTime;
        Attributes = attributes ?? NoAttributes;
    }

    /// <summary>The kind of source.</summary>
    public SourceKind SourceKind { get; }

    /// <summary>The stream, table stream or queue.</summary>
    public string StreamName { get; }

    /// <summary>The shard id.</summary>
    public string ShardId { get; }

    /// <summary>The sequence and sub-sequence number.</summary>
    public SequenceNumber Position { get; }

    /// <summary>The sequence number (decimal digits).</summary>
    public string SequenceNumber => Position.Value!;

    /// <summary>The sub-sequence number inside a KPL-aggregated record; 0 otherwise.</summary>
    public long SubSequenceNumber => Position.SubSequence;

    /// <summary>The partition key.</summary>
    public string PartitionKey { get; }

    /// <summary>The payload bytes, exactly as read.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>When the record reached the source.</summary>
    public DateTimeOffset ArrivalTime { get; }

    /// <summary>Source attributes; empty when none.</summary>
    public IReadOnlyDictionary<string, string> Attributes { get; }

    /// <summary>Identifies the record without its payload: stream, shard, position and key.</summary>
    /// <returns>A display string (never the payload).</returns>
    public override string ToString() => $"{StreamName}/{ShardId}/{Position} key={PartitionKey}";
}
