namespace StreamLanes.Aws;

// Kinesis and DynamoDB Streams describe a shard's sequence numbers with the same shape.
/// <summary>The sequence numbers of a shard: it is closed once <see cref="EndingSequenceNumber"/> is set.</summary>
internal sealed record SequenceNumberRange
{
    /// <summary>The first sequence number of the shard.</summary>
    public string StartingSequenceNumber { get; init => field = value ?? string.Empty; } = string.Empty;

    /// <summary>The last sequence number of a closed shard; <see langword="null"/> while the shard is open.</summary>
    public string? EndingSequenceNumber { get; init; }
}
