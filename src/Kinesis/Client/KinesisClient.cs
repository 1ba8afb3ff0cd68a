using Microsoft.Extensions.Logging;
using StreamLanes.Aws;

namespace StreamLanes.Kinesis;

/// <summary>
/// Kinesis Data Streams over its JSON 1.1 protocol. Streams are named by name or by ARN (a value starting with
/// <c>arn:</c>). Errors surface as <see cref="AwsServiceException"/>; throttling, 5xx and network errors are retried
/// first, as <see cref="AwsClientOptions"/> configures. Thread-safe.
/// </summary>
internal partial class KinesisClient : IDisposable
{
    // A stream or consumer status changes within seconds (on kinesis-mock within moments): polled often at first.
    private static readonly BackoffOptions StatusPoll = BackoffOptions.Of(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1));
    private readonly AwsJsonTransport _transport;
    private readonly TimeProvider _timeProvider;

    /// <summary>Creates a client.</summary>
    /// <param name="options">Region, endpoint, credentials and retries; validated here and copied.</param>
    /// <param name="httpClient">The HTTP client to send with (e.g. from IHttpClientFactory); a private one when <see langword="null"/>.</param>
    /// <param name="loggerFactory">For retry and error logs; none when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock for signing, back-off and timeouts; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    public KinesisClient(AwsClientOptions options, HttpClient? httpClient = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
        : this(options, httpClient, loggerFactory, timeProvider, jitter: null)
    {
    }

    internal KinesisClient(AwsClientOptions options, HttpClient? httpClient, ILoggerFactory? loggerFactory, TimeProvider? timeProvider, Func<double>? jitter)
    {
        ArgumentNullException.ThrowIfNull(options);
        _timeProvider = timeProvider ?? TimeProvider.System;
        _transport = new AwsJsonTransport(
            AwsServiceDescriptor.Kinesis,
            options,
            options.KinesisServiceUrl,
            httpClient,
            loggerFactory?.CreateLogger<KinesisClient>(),
            _timeProvider,
            jitter);
    }

    /// <summary>The URL requests are sent to.</summary>
    public Uri Endpoint => _transport.Endpoint;

    /// <summary>Creates a provisioned stream with <paramref name="shardCount"/> shards (it starts in CREATING).</summary>
    public Task CreateStreamAsync(string streamName, int shardCount, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(streamName);
        ArgumentOutOfRangeException.ThrowIfLessThan(shardCount, 1);
        return _transport.SendAsync(
            "CreateStream",
            new KinesisCreateStreamRequest(streamName, shardCount, new KinesisStreamModeDetails { StreamMode = "PROVISIONED" }),
            KinesisJsonContext.Default.KinesisCreateStreamRequest,
            cancellationToken);
    }

    /// <summary>Deletes a stream.</summary>
    /// <param name="stream">The stream's name or ARN.</param>
    /// <param name="enforceConsumerDeletion">Also deregister enhanced fan-out consumers instead of failing.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task DeleteStreamAsync(string stream, bool enforceConsumerDeletion = false, CancellationToken cancellationToken = default)
    {
        var (name, arn) = StreamIdentifier.Of(stream);
        return _transport.SendAsync(
            "DeleteStream",
            new KinesisDeleteStreamRequest(name, arn, enforceConsumerDeletion ? true : null),
            KinesisJsonContext.Default.KinesisDeleteStreamRequest,
            cancellationToken);
    }

    /// <summary>Describes a stream without its shards.</summary>
    public async Task<KinesisStreamSummary> DescribeStreamSummaryAsync(string stream, CancellationToken cancellationToken = default)
    {
        var (name, arn) = StreamIdentifier.Of(stream);
        var response = await _transport.SendAsync(
            "DescribeStreamSummary",
            new KinesisDescribeStreamSummaryRequest(name, arn),
            KinesisJsonContext.Default.KinesisDescribeStreamSummaryRequest,
            KinesisJsonContext.Default.KinesisDescribeStreamSummaryResponse,
            cancellationToken).ConfigureAwait(false);
        return response.StreamDescriptionSummary;
    }

    /// <summary>
    /// Polls DescribeStreamSummary until the stream is ACTIVE (after CreateStream, SplitShard or MergeShards).
    /// Bound the wait with <paramref name="cancellationToken"/>.
    /// </summary>
    public async Task<KinesisStreamSummary> WaitForStreamActiveAsync(string stream, CancellationToken cancellationToken = default)
    {
        return await ResiliencePipelines.PollUntilAsync(
            "StreamLanes.Kinesis.StreamActivePoll",
            StatusPoll,
            _timeProvider,
            ct => DescribeStreamSummaryAsync(stream, ct),
            static summary => summary.IsActive,
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Lists one page of shards. See <see cref="ListAllShardsAsync"/> for all of them.</summary>
    public Task<KinesisListShardsResponse> ListShardsAsync(KinesisListShardsRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _transport.SendAsync(
            "ListShards",
            request,
            KinesisJsonContext.Default.KinesisListShardsRequest,
            KinesisJsonContext.Default.KinesisListShardsResponse,
            cancellationToken);
    }

    /// <summary>Lists every shard of a stream, following <c>NextToken</c> across pages.</summary>
    /// <param name="stream">The stream's name or ARN.</param>
    /// <param name="filter">Which shards; all of them (open and closed, from the trim horizon) when <see langword="null"/>.</param>
    /// <param name="pageSize">Shards per call; the service's default (1,000) when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the listing.</param>
    public async Task<IReadOnlyList<KinesisShard>> ListAllShardsAsync(
        string stream,
        KinesisShardFilter? filter = null,
        int? pageSize = null,
        CancellationToken cancellationToken = default)
    {
        var (name, arn) = StreamIdentifier.Of(stream);
        var shards = new List<KinesisShard>();

        // The first page names the stream; later pages must carry only the token (and the page size), or the
        // service rejects the request.
        var request = new KinesisListShardsRequest { StreamName = name, StreamArn = arn, MaxResults = pageSize, ShardFilter = filter };
        while (true)
        {
            var page = await ListShardsAsync(request, cancellationToken).ConfigureAwait(false);
            shards.AddRange(page.Shards);
            if (string.IsNullOrEmpty(page.NextToken))
            {
                return shards;
            }

            request = new KinesisListShardsRequest { NextToken = page.NextToken, MaxResults = pageSize };
        }
    }

    /// <summary>Gets a shard iterator.</summary>
    /// <param name="stream">The stream's name or ARN.</param>
    /// <param name="shardId">The shard.</param>
    /// <param name="type">Where to start.</param>
    /// <param name="startingSequenceNumber">For <see cref="KinesisShardIteratorType.AtSequenceNumber"/> and <see cref="KinesisShardIteratorType.AfterSequenceNumber"/>.</param>
    /// <param name="timestamp">For <see cref="KinesisShardIteratorType.AtTimestamp"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public async Task<string> GetShardIteratorAsync(
        string stream,
        string shardId,
        KinesisShardIteratorType type,
        string? startingSequenceNumber = null,
        DateTimeOffset? timestamp = null,
        CancellationToken cancellationToken = default)
    {
        var (name, arn) = StreamIdentifier.Of(stream);
        ArgumentException.ThrowIfNullOrWhiteSpace(shardId);
        if (type is KinesisShardIteratorType.AtSequenceNumber or KinesisShardIteratorType.AfterSequenceNumber)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(startingSequenceNumber);
        }

        if (type == KinesisShardIteratorType.AtTimestamp && timestamp is null)
        {
            throw new ArgumentNullException(nameof(timestamp), "AT_TIMESTAMP needs a timestamp.");
        }

        var response = await _transport.SendAsync(
            "GetShardIterator",
            new KinesisGetShardIteratorRequest(
                name,
                arn,
                shardId,
                type,
                type is KinesisShardIteratorType.AtSequenceNumber or KinesisShardIteratorType.AfterSequenceNumber ? startingSequenceNumber : null,
                type == KinesisShardIteratorType.AtTimestamp ? timestamp : null),
            KinesisJsonContext.Default.KinesisGetShardIteratorRequest,
            KinesisJsonContext.Default.KinesisGetShardIteratorResponse,
            cancellationToken).ConfigureAwait(false);
        return response.ShardIterator
            ?? throw new InvalidOperationException($"Kinesis returned no shard iterator for {stream}/{shardId}.");
    }

    /// <summary>Reads records from a shard iterator.</summary>
    /// <param name="shardIterator">From <see cref="GetShardIteratorAsync"/> or the previous response.</param>
    /// <param name="limit">At most this many records (1 to 10,000; the service's default is 10,000).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="AwsServiceException">With <see cref="AwsErrorKind.ExpiredIterator"/> when the iterator is older than 5 minutes.</exception>
    public Task<KinesisGetRecordsResponse> GetRecordsAsync(string shardIterator, int? limit = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(shardIterator);
        return _transport.SendAsync(
            "GetRecords",
            new KinesisGetRecordsRequest(shardIterator, limit, null),
            KinesisJsonContext.Default.KinesisGetRecordsRequest,
            KinesisJsonContext.Default.KinesisGetRecordsResponse,
            cancellationToken);
    }

    /// <summary>Writes one record.</summary>
    /// <param name="stream">The stream's name or ARN.</param>
    /// <param name="partitionKey">The partition key.</param>
    /// <param name="data">The payload.</param>
    /// <param name="explicitHashKey">Overrides the partition key's hash for picking the shard.</param>
    /// <param name="sequenceNumberForOrdering">Orders this record strictly after that sequence number for the same key.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<KinesisPutRecordResponse> PutRecordAsync(
        string stream,
        string partitionKey,
        ReadOnlyMemory<byte> data,
        string? explicitHashKey = null,
        string? sequenceNumberForOrdering = null,
        CancellationToken cancellationToken = default)
    {
        var (name, arn) = StreamIdentifier.Of(stream);
        ArgumentException.ThrowIfNullOrEmpty(partitionKey);
        return _transport.SendAsync(
            "PutRecord",
            new KinesisPutRecordRequest(name, arn, data, partitionKey, explicitHashKey, sequenceNumberForOrdering),
            KinesisJsonContext.Default.KinesisPutRecordRequest,
            KinesisJsonContext.Default.KinesisPutRecordResponse,
            cancellationToken);
    }

    /// <summary>
    /// Writes up to 500 records. A call can partly fail: check <see cref="KinesisPutRecordsResponse.FailedRecordCount"/>
    /// and retry the failed entries.
    /// </summary>
    public Task<KinesisPutRecordsResponse> PutRecordsAsync(
        string stream,
        IReadOnlyList<KinesisPutRecordsEntry> records,
        CancellationToken cancellationToken = default)
    {
        var (name, arn) = StreamIdentifier.Of(stream);
        ArgumentNullException.ThrowIfNull(records);
        return _transport.SendAsync(
            "PutRecords",
            new KinesisPutRecordsRequest(name, arn, records),
            KinesisJsonContext.Default.KinesisPutRecordsRequest,
            KinesisJsonContext.Default.KinesisPutRecordsResponse,
            cancellationToken);
    }

    /// <summary>Splits a shard in two at <paramref name="newStartingHashKey"/> (the stream goes UPDATING, then ACTIVE).</summary>
    public Task SplitShardAsync(string stream, string shardToSplit, string newStartingHashKey, CancellationToken cancellationToken = default)
    {
        var (name, arn) = StreamIdentifier.Of(stream);
        ArgumentException.ThrowIfNullOrWhiteSpace(shardToSplit);
        ArgumentException.ThrowIfNullOrWhiteSpace(newStartingHashKey);
        return _transport.SendAsync(
            "SplitShard",
            new KinesisSplitShardRequest(name, arn, shardToSplit, newStartingHashKey),
            KinesisJsonContext.Default.KinesisSplitShardRequest,
            cancellationToken);
    }

    /// <summary>Merges two adjacent shards (the stream goes UPDATING, then ACTIVE).</summary>
    public Task MergeShardsAsync(string stream, string shardToMerge, string adjacentShardToMerge, CancellationToken cancellationToken = default)
    {
        var (name, arn) = StreamIdentifier.Of(stream);
        ArgumentException.ThrowIfNullOrWhiteSpace(shardToMerge);
        ArgumentException.ThrowIfNullOrWhiteSpace(adjacentShardToMerge);
        return _transport.SendAsync(
            "MergeShards",
            new KinesisMergeShardsRequest(name, arn, shardToMerge, adjacentShardToMerge),
            KinesisJsonContext.Default.KinesisMergeShardsRequest,
            cancellationToken);
    }

    /// <inheritdoc />
    public void Dispose() => _transport.Dispose();
}
