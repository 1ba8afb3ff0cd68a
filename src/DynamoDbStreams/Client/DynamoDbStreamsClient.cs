using Microsoft.Extensions.Logging;
using StreamLanes.Aws;

namespace StreamLanes.DynamoDbStreams;

/// <summary>
/// DynamoDB Streams over its JSON 1.0 protocol. Errors surface as <see cref="AwsServiceException"/>; throttling, 5xx
/// and network errors are retried first, as <see cref="AwsClientOptions"/> configures. Thread-safe.
/// </summary>
internal sealed class DynamoDbStreamsClient : IDisposable
{
    private readonly AwsJsonTransport _transport;

    /// <summary>Creates a client.</summary>
    /// <param name="options">Region, endpoint, credentials and retries; validated here and copied.</param>
    /// <param name="httpClient">The HTTP client to send with; a private one when <see langword="null"/>.</param>
    /// <param name="loggerFactory">For retry and error logs; none when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock for signing, back-off and timeouts; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    public DynamoDbStreamsClient(AwsClientOptions options, HttpClient? httpClient = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
        : this(options, httpClient, loggerFactory, timeProvider, jitter: null)
    {
    }

    internal DynamoDbStreamsClient(AwsClientOptions options, HttpClient? httpClient, ILoggerFactory? loggerFactory, TimeProvider? timeProvider, Func<double>? jitter)
    {
        ArgumentNullException.ThrowIfNull(options);
        _transport = new AwsJsonTransport(
            AwsServiceDescriptor.DynamoDbStreams,
            options,
            options.DynamoDbStreamsServiceUrl,
            httpClient,
            loggerFactory?.CreateLogger<DynamoDbStreamsClient>(),
            timeProvider,
            jitter);
    }

    /// <summary>The URL requests are sent to.</summary>
    public Uri Endpoint => _transport.Endpoint;

    /// <summary>Describes a stream with one page of its shards.</summary>
    /// <param name="streamArn">The stream's ARN (the table's <c>LatestStreamArn</c>).</param>
    /// <param name="exclusiveStartShardId">Continue after this shard (the previous page's <c>LastEvaluatedShardId</c>).</param>
    /// <param name="limit">Shards per page (1 to 100).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public async Task<DynamoDbStreamDescription> DescribeStreamAsync(
        string streamArn,
        string? exclusiveStartShardId = null,
        int? limit = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(streamArn);
        var response = await _transport.SendAsync(
            "DescribeStream",
            new DynamoDbDescribeStreamRequest(streamArn, limit, exclusiveStartShardId),
            DynamoDbStreamsJsonContext.Default.DynamoDbDescribeStreamRequest,
            DynamoDbStreamsJsonContext.Default.DynamoDbDescribeStreamResponse,
            cancellationToken).ConfigureAwait(false);
        return response.StreamDescription;
    }

    /// <summary>
    /// Describes a stream with all its shards, following <c>LastEvaluatedShardId</c> across pages. The result's
    /// <see cref="DynamoDbStreamDescription.LastEvaluatedShardId"/> is <see langword="null"/>.
    /// </summary>
    public async Task<DynamoDbStreamDescription> DescribeStreamAllShardsAsync(
        string streamArn,
        int? pageSize = null,
        CancellationToken cancellationToken = default)
    {
        var first = await DescribeStreamAsync(streamArn, null, pageSize, cancellationToken).ConfigureAwait(false);
        var shards = new List<DynamoDbShard>(first.Shards);
        var last = first.LastEvaluatedShardId;
        while (!string.IsNullOrEmpty(last))
        {
            var page = await DescribeStreamAsync(streamArn, last, pageSize, cancellationToken).ConfigureAwait(false);
            shards.AddRange(page.Shards);
            last = page.LastEvaluatedShardId;
        }

        return first with { Shards = shards, LastEvaluatedShardId = null };
    }

    /// <summary>Lists one page of streams, optionally of one table.</summary>
    public Task<DynamoDbListStreamsResponse> ListStreamsAsync(
        string? tableName = null,
        string? exclusiveStartStreamArn = null,
        int? limit = null,
        CancellationToken cancellationToken = default) =>
        _transport.SendAsync(
            "ListStreams",
            new DynamoDbListStreamsRequest(tableName, limit, exclusiveStartStreamArn),
            DynamoDbStreamsJsonContext.Default.DynamoDbListStreamsRequest,
            DynamoDbStreamsJsonContext.Default.DynamoDbListStreamsResponse,
            cancellationToken);

    /// <summary>Gets a shard iterator.</summary>
    /// <param name="streamArn">The stream's ARN.</param>
    /// <param name="shardId">The shard.</param>
    /// <param name="type">Where to start.</param>
    /// <param name="sequenceNumber">For <see cref="DynamoDbShardIteratorType.AtSequenceNumber"/> and <see cref="DynamoDbShardIteratorType.AfterSequenceNumber"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="AwsServiceException">With <see cref="AwsErrorKind.TrimmedData"/> when the sequence number is past the trim horizon.</exception>
    public async Task<string> GetShardIteratorAsync(
        string streamArn,
        string shardId,
        DynamoDbShardIteratorType type,
        string? sequenceNumber = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(streamArn);
        ArgumentException.ThrowIfNullOrWhiteSpace(shardId);
        var needsSequence = type is DynamoDbShardIteratorType.AtSequenceNumber or DynamoDbShardIteratorType.AfterSequenceNumber;
        if (needsSequence)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(sequenceNumber);
        }

        var response = await _transport.SendAsync(
            "GetShardIterator",
            new DynamoDbGetShardIteratorRequest(streamArn, shardId, type, needsSequence ? sequenceNumber : null),
            DynamoDbStreamsJsonContext.Default.DynamoDbGetShardIteratorRequest,
            DynamoDbStreamsJsonContext.Default.DynamoDbGetShardIteratorResponse,
            cancellationToken).ConfigureAwait(false);
        return response.ShardIterator
            ?? throw new InvalidOperationException($"DynamoDB Streams returned no shard iterator for {shardId}.");
    }

    /// <summary>Reads records from a shard iterator.</summary>
    /// <param name="shardIterator">From <see cref="GetShardIteratorAsync"/> or the previous response.</param>
    /// <param name="limit">At most this many records (1 to 1,000).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="AwsServiceException">
    /// With <see cref="AwsErrorKind.ExpiredIterator"/> (older than 15 minutes) or <see cref="AwsErrorKind.TrimmedData"/>.
    /// </exception>
    public Task<DynamoDbGetRecordsResponse> GetRecordsAsync(string shardIterator, int? limit = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(shardIterator);
        return _transport.SendAsync(
            "GetRecords",
            new DynamoDbGetRecordsRequest(shardIterator, limit),
            DynamoDbStreamsJsonContext.Default.DynamoDbGetRecordsRequest,
            DynamoDbStreamsJsonContext.Default.DynamoDbGetRecordsResponse,
            cancellationToken);
    }

    /// <inheritdoc />
    public void Dispose() => _transport.Dispose();
}
