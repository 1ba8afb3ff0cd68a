using StreamLanes.Aws;
using StreamLanes.Checkpointing;
using StreamLanes.DynamoDb;

namespace StreamLanes.Kinesis;

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

/// <summary>How a Kinesis source reads its shards.</summary>
public enum KinesisReadMode
{
    /// <summary>
    /// GetRecords polling, as KCL 1.x: the default. Every application polling a stream shares each shard's 2 MB/s and
    /// 5 reads/s, and records arrive <see cref="KinesisSourceOptions.IdleTimeBetweenReads"/> to a few seconds after
    /// they were put. No extra cost.
    /// </summary>
    Polling = 0,

    /// <summary>
    /// Enhanced fan-out, as KCL 2.x's default: a registered stream consumer gets its own 2 MB/s per shard, pushed over
    /// HTTP/2 (SubscribeToShard) about 70 ms after the put. AWS bills every consumer-shard hour and the data retrieved.
    /// </summary>
    EnhancedFanOut = 1,
}

/// <summary>Enhanced fan-out settings, used when <see cref="KinesisSourceOptions.ReadMode"/> is <see cref="KinesisReadMode.EnhancedFanOut"/>.</summary>
public sealed class KinesisFanOutOptions
{
    /// <summary>
    /// The registered stream consumer's name: one per application, shared by all its workers (each shard has one
    /// subscription at a time). Registered at start-up if the stream has none by that name, else reused. Default null:
    /// the StreamLanes consumer's name. 1 to 128 letters, digits, '_', '.' and '-'.
    /// </summary>
    public string? ConsumerName { get; set; }

    /// <summary>
    /// Whether a graceful stop deregisters the stream consumer (ending every worker's subscriptions and the billing).
    /// Default false: the consumer outlives deployments, as one registration serves every worker and restart.
    /// </summary>
    public bool DeregisterOnStop { get; set; }

    /// <summary>
    /// How long a subscription is kept before the reader renews it itself, from the last continuation sequence number;
    /// the service ends every subscription after five minutes anyway. Default 5 minutes; 1 second to 5 minutes.
    /// </summary>
    public TimeSpan SubscriptionRenewal { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// While a shard's subscription delivers no records, how often the reader asks whether the shard has ended (one
    /// GetShardIterator and one GetRecords call). AWS announces a shard's end in the subscription; this also covers
    /// services that do not. Default 5 s; 100 ms to 5 minutes.
    /// </summary>
    public TimeSpan ShardEndProbeInterval { get; set; } = TimeSpan.FromSeconds(5);

    internal void Validate(List<string> failures, string prefix)
    {
        if (ConsumerName is not null && (ConsumerName.Length is < 1 or > 128 || !ConsumerName.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-')))
        {
            failures.Add($"{prefix}FanOut:ConsumerName must be 1 to 128 letters, digits, '_', '.' or '-'.");
        }

        if (SubscriptionRenewal < TimeSpan.FromSeconds(1) || SubscriptionRenewal > TimeSpan.FromMinutes(5))
        {
            failures.Add($"{prefix}FanOut:SubscriptionRenewal must be between 1 second and 5 minutes; it was {SubscriptionRenewal}.");
        }

        if (ShardEndProbeInterval < TimeSpan.FromMilliseconds(100) || ShardEndProbeInterval > TimeSpan.FromMinutes(5))
        {
            failures.Add($"{prefix}FanOut:ShardEndProbeInterval must be between 100 ms and 5 minutes; it was {ShardEndProbeInterval}.");
        }
    }
}

/// <summary>
/// A Kinesis source: the stream, where new shards start, how shards are polled, and the lease table that shares them
/// among workers. Bound from <c>StreamConsumers:&lt;name&gt;:Kinesis</c>, then the code's configure action.
/// </summary>
[RenamedOption("ReadBackoff", "ReadRetry:InitialDelay")]
[RenamedOption("MaxReadBackoff", "ReadRetry:MaxDelay")]
public sealed class KinesisSourceOptions
{
    /// <summary>The stream's name or ARN. Required for one stream; empty when <see cref="Streams"/> or <see cref="DiscoverStreams"/> name several.</summary>
    public string StreamName { get; set; } = "";

    /// <summary>
    /// Several streams read by one consumer with one lease table (KCL's multi-stream mode): lease keys are then
    /// <c>account-id:stream-name:creation-epoch:shard-id</c>, as KCL writes them. Empty by default (one stream,
    /// <see cref="StreamName"/>, with bare shard ids as lease keys). Each stream at most once.
    /// </summary>
    public IList<KinesisStreamOptions> Streams { get; } = new List<KinesisStreamOptions>();

    /// <summary>
    /// Finds the streams to read, instead of a fixed <see cref="Streams"/> list: called at start-up and every
    /// <see cref="StreamDiscoveryInterval"/>. A stream it stops returning stops being read (its records in flight are
    /// finished and checkpointed) and its leases are deleted after <see cref="FormerStreamLeaseDeletionDelay"/>; a
    /// stream it starts returning is read from then on. A failed call keeps the previous streams. Default null. Not bound
    /// from configuration.
    /// </summary>
    public Func<CancellationToken, Task<IReadOnlyList<KinesisStreamOptions>>>? DiscoverStreams { get; set; }

    /// <summary>
    /// In multi-stream mode, how often <see cref="DiscoverStreams"/> is called and every stream is checked (a deleted
    /// or re-created stream counts as dropped). Default 1 minute; 100 ms to 1 hour.
    /// </summary>
    public TimeSpan StreamDiscoveryInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// In multi-stream mode, how long after a stream was dropped (or deleted) its leases, with their checkpoints, are
    /// deleted from the lease table; a stream added back before then resumes from them. A lease still owned by a
    /// worker that reads the stream is never deleted. Default 1 hour; from <see cref="StreamDiscoveryInterval"/> to 30 days.
    /// </summary>
    public TimeSpan FormerStreamLeaseDeletionDelay { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Set by the multi-stream <c>FromKinesis</c> overloads: the source reads <see cref="Streams"/> or <see cref="DiscoverStreams"/>.</summary>
    internal bool MultiStream { get; set; }

    /// <summary>Whether the source reads several streams (KCL's multi-stream mode).</summary>
    internal bool IsMultiStream => MultiStream || Streams.Count > 0 || DiscoverStreams is not null;

    /// <summary>Where a shard without a checkpoint starts. Default <see cref="KinesisStartingPosition.TrimHorizon"/>; a child shard after a split or merge always starts at its beginning.</summary>
    public KinesisStartingPosition StartingPosition { get; set; } = KinesisStartingPosition.TrimHorizon;

    /// <summary>For <see cref="KinesisStartingPosition.AtTimestamp"/>: the timestamp. Default null.</summary>
    public DateTimeOffset? StartingTimestamp { get; set; }

    /// <summary>How shards are read: <see cref="KinesisReadMode.Polling"/> (the default) or <see cref="KinesisReadMode.EnhancedFanOut"/>.</summary>
    public KinesisReadMode ReadMode { get; set; } = KinesisReadMode.Polling;

    /// <summary>Enhanced fan-out settings, used in <see cref="KinesisReadMode.EnhancedFanOut"/> mode.</summary>
    public KinesisFanOutOptions FanOut { get; set; } = new();

    /// <summary>Records asked for per GetRecords call. Default 10,000 (the service's maximum, as KCL's); 1 to 10,000.</summary>
    public int MaxRecordsPerRead { get; set; } = 10_000;

    /// <summary>The wait after a GetRecords call that returned no records. Default 1 s; 0 to 1 minute.</summary>
    public TimeSpan IdleTimeBetweenReads { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The least time between two GetRecords calls on one shard, which Kinesis limits to 5 per second per shard.
    /// Default 200 ms; 0 to 1 minute.
    /// </summary>
    public TimeSpan MinTimeBetweenReads { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// The waits after a throttled or failed read of a shard, which is retried until it succeeds (keys
    /// <c>ReadRetry:InitialDelay</c> and <c>ReadRetry:MaxDelay</c>, formerly <c>ReadBackoff</c> and
    /// <c>MaxReadBackoff</c>): the first about <see cref="BackoffOptions.InitialDelay"/> (default 500 ms; 0 to 1 minute),
    /// each next one doubling (with jitter) up to <see cref="BackoffOptions.MaxDelay"/> (default 30 s; at most 10 minutes).
    /// </summary>
    public BackoffOptions ReadRetry { get; set; } = BackoffOptions.Of(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30));

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
        if (IsMultiStream)
        {
            ValidateMultiStream(failures, prefix);
        }
        else if (string.IsNullOrWhiteSpace(StreamName))
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

        if (!Enum.IsDefined(ReadMode))
        {
            failures.Add($"{prefix}ReadMode must be Polling or EnhancedFanOut; it was {ReadMode}.");
        }

        if (FanOut is null)
        {
            failures.Add($"{prefix}FanOut must not be null.");
        }
        else
        {
            FanOut.Validate(failures, prefix);
        }

        if (MaxRecordsPerRead is < 1 or > 10_000)
        {
            failures.Add($"{prefix}MaxRecordsPerRead must be between 1 and 10000; it was {MaxRecordsPerRead}.");
        }

        SourceSetup.ValidateReadPacing(failures, prefix, IdleTimeBetweenReads, MinTimeBetweenReads, ReadRetry);
        LeaseSetup.ValidateLeasesAndAws(failures, prefix, Leases, Aws);
        return failures;
    }

    private void ValidateMultiStream(List<string> failures, string prefix)
    {
        if (!string.IsNullOrWhiteSpace(StreamName))
        {
            failures.Add($"{prefix}StreamName must not be set together with Streams or DiscoverStreams: a source reads one stream (StreamName) or several (Streams, or DiscoverStreams).");
        }

        if (Streams.Count == 0 && DiscoverStreams is null)
        {
            failures.Add($"{prefix}Streams must name at least one stream (or set DiscoverStreams); it was empty.");
        }

        if (Streams.Count > 0 && DiscoverStreams is not null)
        {
            failures.Add($"{prefix}Streams and DiscoverStreams must not both be set: give a fixed list or a discovery function.");
        }

        KinesisStreamOptions.Validate(Streams, failures, prefix, StartingPosition, StartingTimestamp);
        if (StreamDiscoveryInterval < TimeSpan.FromMilliseconds(100) || StreamDiscoveryInterval > TimeSpan.FromHours(1))
        {
            failures.Add($"{prefix}StreamDiscoveryInterval must be between 100 ms and 1 hour; it was {StreamDiscoveryInterval}.");
        }

        // Shorter than a discovery round, a worker could delete the leases of a stream another worker has just added
        // and this one has not discovered yet.
        if (FormerStreamLeaseDeletionDelay < StreamDiscoveryInterval || FormerStreamLeaseDeletionDelay > TimeSpan.FromDays(30))
        {
            failures.Add($"{prefix}FormerStreamLeaseDeletionDelay must be between StreamDiscoveryInterval ({StreamDiscoveryInterval}) and 30 days; it was {FormerStreamLeaseDeletionDelay}.");
        }
    }
}
