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
        Identity = position;
    }

    /// <summary>
    /// Initializes a record whose identity differs from its position in the shard: an SQS message, whose identity is
    /// its own (FIFO <c>SequenceNumber</c>, or derived from its <c>MessageId</c>) while the engine orders a process's
    /// received messages by a per-process receive counter.
    /// </summary>
    internal StreamRecord(
        SourceKind sourceKind,
        string streamName,
        string shardId,
        SequenceNumber position,
        SequenceNumber identity,
        string partitionKey,
        ReadOnlyMemory<byte> data,
        DateTimeOffset arrivalTime,
        IReadOnlyDictionary<string, string>? attributes)
        : this(sourceKind, streamName, shardId, position, partitionKey, data, arrivalTime, attributes)
    {
        if (identity.IsNone || identity.IsShardEnd)
        {
            throw new ArgumentException("A record needs a real identity.", nameof(identity));
        }

        Identity = identity;
    }

    /// <summary>The kind of source.</summary>
    public SourceKind SourceKind { get; }

    /// <summary>The stream, table stream or queue.</summary>
    public string StreamName { get; }

    /// <summary>The shard id.</summary>
    public string ShardId { get; }

    /// <summary>
    /// Where the record is in its shard: the order in which the engine tracks completion and checkpoints. The same as
    /// <see cref="SequenceNumber"/> for streams; for SQS (which has no shard order) the order this process received
    /// the messages in, which means nothing outside the process.
    /// </summary>
    public SequenceNumber Position { get; }

    /// <summary>
    /// The record's identity, the same in every process and after every restart: the sequence number (decimal digits)
    /// of a stream record; for an SQS FIFO message its <c>SequenceNumber</c>, for a standard one its <c>SentTimestamp</c>
    /// followed by its <c>MessageId</c> as a number. Dead-letter ids, de-duplication ids and sink keys derive from it.
    /// </summary>
    public string SequenceNumber => Identity.Value!;

    /// <summary>The sub-sequence number inside a KPL-aggregated record; 0 otherwise.</summary>
    public long SubSequenceNumber => Identity.SubSequence;

    /// <summary>The identity as a position: <see cref="SequenceNumber"/> and <see cref="SubSequenceNumber"/>.</summary>
    internal SequenceNumber Identity { get; }

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
    public override string ToString() => $"{StreamName}/{ShardId}/{Identity} key={PartitionKey}";
}
