namespace StreamLanes;

/// <summary>A source whose shards are shared among workers through leases (Kinesis, DynamoDB Streams).</summary>
internal interface ILeasedSource
{
    /// <summary>This worker's lease-owner id, once the source has started; <see langword="null"/> before.</summary>
    string? WorkerId { get; }
}
