using StreamLanes.Aws;
using StreamLanes.Checkpointing;
using StreamLanes.DynamoDb;

namespace StreamLanes.DynamoDbStreams;

/// <summary>Where a consumer starts reading a DynamoDB stream's shards that have no checkpoint yet.</summary>
public enum DynamoDbStreamsStartingPosition
{
    /// <summary>The oldest record still in the stream (retention is 24 hours).</summary>
    TrimHorizon = 0,

    /// <summary>Only changes made after the consumer started.</summary>
    Latest = 1,
}

/// <summary>
/// How a consumer reads a DynamoDB table's stream. Bound from <c>StreamConsumers:&lt;name&gt;:DynamoDbStreams</c>.
/// </summary>
[RenamedOption("ReadBackoff", "ReadRetry:InitialDelay")]
[RenamedOption("MaxReadBackoff", "ReadRetry:MaxDelay")]
public sealed class DynamoDbStreamsSourceOptions
{
    /// <summary>
    /// The <c>MaxRecordAge</c> a consumer of this source gets when it set none: 23 hours, below the stream's 24-hour
    /// retention, so that a change stuck in retries is dead-lettered before the stream drops it.
    /// </summary>
    public static readonly TimeSpan DefaultMaxRecordAge = TimeSpan.FromHours(23);

    /// <summary>The table's name (its latest stream is read) or the stream's ARN. Required.</summary>
    public string Stream { get; set; } = "";

    /// <summary>Where shards without a checkpoint start. Default <see cref="DynamoDbStreamsStartingPosition.TrimHorizon"/>.</summary>
    public DynamoDbStreamsStartingPosition StartingPosition { get; set; } = DynamoDbStreamsStartingPosition.TrimHorizon;

    /// <summary>Records asked for per GetRecords call. Default 1,000; 1 to 1,000.</summary>
    public int MaxRecordsPerRead { get; set; } = 1000;

    /// <summary>The pause after a read that returned no records. Default 1 s; 0 to 1 minute.</summary>
    public TimeSpan IdleTimeBetweenReads { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The shortest time between two reads of one shard. Default 250 ms; 0 to 1 minute.</summary>
    public TimeSpan MinTimeBetweenReads { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// The waits after a throttled or failed read of a shard, which is retried until it succeeds (keys
    /// <c>ReadRetry:InitialDelay</c> and <c>ReadRetry:MaxDelay</c>, formerly <c>ReadBackoff</c> and
    /// <c>MaxReadBackoff</c>): the first about <see cref="BackoffOptions.InitialDelay"/> (default 500 ms; 0 to 1 minute),
    /// each next one doubling (with jitter) up to <see cref="BackoffOptions.MaxDelay"/> (default 30 s; at most 10 minutes).
    /// </summary>
    public BackoffOptions ReadRetry { get; set; } = BackoffOptions.Of(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30));

    /// <summary>The HTTP transport to DynamoDB Streams: region, endpoint, credentials, transport retries.</summary>
    public AwsClientOptions Aws { get; set; } = new();

    /// <summary>
    /// The DynamoDB endpoint of the table (to find its stream) and of the lease table (e.g. DynamoDB Local or a VPC
    /// endpoint); the region's public endpoint when null.
    /// </summary>
    public Uri? DynamoDbServiceUrl { get; set; }

    /// <summary>The lease table and how leases are renewed, taken and balanced. <see cref="DynamoDbLeaseOptions.TableName"/> is required.</summary>
    public DynamoDbLeaseOptions Leases { get; set; } = new();

    /// <summary>Whether <see cref="Stream"/> is an ARN rather than a table name.</summary>
    internal bool StreamIsArn => Stream.StartsWith("arn:", StringComparison.Ordinal);

    /// <summary>Checks the options, naming each invalid one and its rule.</summary>
    /// <param name="prefix">The configuration path of these options, for messages.</param>
    /// <returns>The failures; empty when valid.</returns>
    public IReadOnlyList<string> Validate(string prefix)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(Stream))
        {
            failures.Add($"{prefix}Stream must be set to the table's name or the stream's ARN.");
        }

        if (!Enum.IsDefined(StartingPosition))
        {
            failures.Add($"{prefix}StartingPosition must be TrimHorizon or Latest; it was {StartingPosition}.");
        }

        if (MaxRecordsPerRead is < 1 or > 1000)
        {
            failures.Add($"{prefix}MaxRecordsPerRead must be between 1 and 1000; it was {MaxRecordsPerRead}.");
        }

        SourceSetup.ValidateReadPacing(failures, prefix, IdleTimeBetweenReads, MinTimeBetweenReads, ReadRetry);
        LeaseSetup.ValidateLeasesAndAws(failures, prefix, Leases, Aws);
        return failures;
    }
}
