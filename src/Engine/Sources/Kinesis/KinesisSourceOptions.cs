using StreamLanes.Aws;
using StreamLanes.Checkpointing;

namespace StreamLanes;

/// <summary>Where a new shard (one without a checkpoint) starts being read.</summary>
public enum KinesisStartingPosition
{
    /// <summary>From the oldest record still in the stream. The default: nothing already in the stream is skipped.</summary>
    TrimHorizon = 0,

    /// <summary>From records written after the shard was first read.</summary>
    Latest = 1,

    /// <summary>From records written at or after <see cref="KinesisSourceOptions.StartingTimestamp"/>.</summary>
    AtTimestamp = 2,
}

/// <summary>
/// A Kinesis source: the stream, where new shards start, how shards are polled, and the lease table that shares them
/// among workers. Bound from <c>StreamConsumers:&lt;name&gt;:Kinesis</c>, then the code's configure action.
/// </summary>
public sealed class KinesisSourceOptions
{
    /// <summary>The stream's name or ARN. Required.</summary>
    public string StreamName { get; set; } = "";

    /// <summary>Where a shard without a checkpoint starts. Default <see cref="KinesisStartingPosition.TrimHorizon"/>; a child shard after a split or merge always starts at its beginning.</summary>
    public KinesisStartingPosition StartingPosition { get; set; } = KinesisStartingPosition.TrimHorizon;

    /// <summary>For <see cref="KinesisStartingPosition.AtTimestamp"/>: the timestamp. Default null.</summary>
    public DateTimeOffset? StartingTimestamp { get; set; }

    /// <summary>Records asked for per GetRecords call. Default 10,000 (the service's maximum, as KCL's); 1 to 10,000.</summary>
    public int MaxRecordsPerRead { get; set; } = 10_000;

    /// <summary>The wait after a GetRecords call that returned no records. Default 1 s; 0 to 1 minute.</summary>
    public TimeSpan IdleTimeBetweenReads { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The least time between two GetRecords calls on one shard, which Kinesis limits to 5 per second per shard.
    /// Default 200 ms; 0 to 1 minute.
    /// </summary>
    public TimeSpan MinTimeBetweenReads { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The first back-off after a throttled or failed read; it doubles (with jitter) up to <see cref="MaxReadBackoff"/>. Default 500 ms.</summary>
    public TimeSpan ReadBackoff { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest back-off between failed reads. Default 30 s.</summary>
    public TimeSpan MaxReadBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Whether records aggregated by the Kinesis Producer Library are split into their user records (each with its own partition key and sub-sequence number). Default true.</summary>
    public bool DeaggregateKplRecords { get; set; } = true;

    /// <summary>The HTTP transport to Kinesis: region, endpoint, credentials, transport retries.</summary>
    public AwsClientOptions Aws { get; set; } = new();

    /// <summary>
    /// The HttpClient Kinesis requests go through (e.g. one from <c>IHttpClientFactory</c>, with a proxy or extra
    /// handlers). Default null: a client of its own. Not bound from configuration.
    /// </summary>
    public HttpClient? HttpClient { get; set; }

    /// <summary>The DynamoDB endpoint of the lease table (e.g. DynamoDB Local or a VPC endpoint); the region's public endpoint when null.</summary>
    public Uri? DynamoDbServiceUrl { get; set; }

    /// <summary>The lease table and how leases are renewed, taken and balanced. <see cref="DynamoDbLeaseOptions.TableName"/> is required.</summary>
    public DynamoDbLeaseOptions Leases { get; set; } = new();

    /// <summary>Checks the options, naming each invalid one and its rule.</summary>
    /// <param name="prefix">The configuration path of these options, for messages.</param>
    /// <returns>The failures; empty when valid.</returns>
    public IReadOnlyList<string> Validate(string prefix)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(StreamName))
        {
            failures.Add($"{prefix}StreamName must be set to the stream's name or ARN.");
        }

        if (!Enum.IsDefined(StartingPosition))
        {
            failures.Add($"{prefix}StartingPosition must be TrimHorizon, Latest or AtTimestamp; it was {StartingPosition}.");
        }

        if (StartingPosition == KinesisStartingPosition.AtTimestamp && StartingTimestamp is null)
        {
            failures.Add($"{prefix}StartingTimestamp must be set when StartingPosition is AtTimestamp.");
        }

        if (MaxRecordsPerRead is < 1 or > 10_000)
        {
            failures.Add($"{prefix}MaxRecordsPerRead must be between 1 and 10000; it was {MaxRecordsPerRead}.");
        }

        SourceSetup.ValidateReadPacing(failures, prefix, IdleTimeBetweenReads, MinTimeBetweenReads, ReadBackoff, MaxReadBackoff);
        SourceSetup.ValidateLeasesAndAws(failures, prefix, Leases, Aws);
        return failures;
    }
}
