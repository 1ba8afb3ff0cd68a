using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Microsoft.Extensions.Logging;
using StreamLanes.Aws;
using StreamLanes.Checkpointing;
using StreamLanes.DynamoDb;

namespace StreamLanes.DynamoDbStreams;

/// <summary>
/// Reads a DynamoDB table's stream by polling (GetRecords), one reader per shard whose lease this worker holds; leases
/// live in a DynamoDB table in KCL's shape, shared with the other workers of the same consumer, exactly as for the
/// Kinesis source. Stream shards close and split every few hours: a child starts only after its parent reached
/// <c>SHARD_END</c>, so changes to one item stay in order across the split.
/// </summary>
/// <remarks>
/// A record's partition key is the item's primary key (<see cref="DynamoDbChange.PartitionKeyOf"/>), and its payload
/// the stream record's JSON in the service's own shape, images included, so that a dead letter keeps the whole change.
/// </remarks>
internal sealed class DynamoDbStreamsSource : LeasedShardSource
{
    private readonly DynamoDbStreamsSourceOptions _options;
    private readonly DynamoDbStreamsClient _streams;
    private string _streamArn = "";

    public DynamoDbStreamsSource(DynamoDbStreamsSourceOptions options, DynamoDbStreamsClient streams, IAmazonDynamoDB dynamoDb, TimeProvider timeProvider, ILogger logger)
        : base(dynamoDb, options.Leases, timeProvider, logger)
    {
        _options = options;
        _streams = streams;
    }

    public override SourceKind Kind => SourceKind.DynamoDbStreams;

    public override string StreamName => _options.Stream;

    /// <summary>The stream's ARN, once started.</summary>
    internal string StreamArn => _streamArn;

    protected override string InitialCheckpoint => _options.StartingPosition == DynamoDbStreamsStartingPosition.Latest ? Lease.Latest : Lease.TrimHorizon;

    protected override async Task PrepareAsync(CancellationToken cancellationToken)
    {
        _streamArn = _options.StreamIsArn ? _options.Stream : await FindStreamArnAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _streams.DescribeStreamAsync(_streamArn, limit: 1, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.ResourceNotFound)
        {
            throw new InvalidOperationException($"DynamoDB stream '{_streamArn}' was not found in region {_options.Aws.Region} at {_streams.Endpoint}.", ex);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.AccessDenied)
        {
            throw new InvalidOperationException($"DynamoDB Streams refused access to stream '{_streamArn}' ({ex.ErrorCode}): check the credentials and the IAM policy (dynamodb:DescribeStream, GetShardIterator, GetRecords).", ex);
        }
    }

    protected override void DisposeClients() => _streams.Dispose();

    private async Task<string> FindStreamArnAsync(CancellationToken cancellationToken)
    {
        DescribeTableResponse table;
        try
        {
            table = await DynamoDb.DescribeTableAsync(_options.Stream, cancellationToken).ConfigureAwait(false);
        }
        catch (ResourceNotFoundException ex)
        {
            throw new InvalidOperationException($"DynamoDB table '{_options.Stream}' was not found in region {_options.Aws.Region}{(_options.DynamoDbServiceUrl is null ? "" : $" at {_options.DynamoDbServiceUrl}")}.", ex);
        }

        return table.Table.LatestStreamArn is { Length: > 0 } arn && table.Table.StreamSpecification?.StreamEnabled == true
            ? arn
            : throw new InvalidOperationException($"DynamoDB table '{_options.Stream}' has no stream enabled: enable one (NEW_AND_OLD_IMAGES keeps both images) or pass the stream's ARN.");
    }

    protected override async Task<IReadOnlyList<ShardDescriptor>> ListShardsAsync(CancellationToken cancellationToken)
    {
        // DynamoDB Streams has no ListShards: DescribeStream pages through them.
        DynamoDbStreamDescription description = await _streams.DescribeStreamAllShardsAsync(_streamArn, cancellationToken: cancellationToken).ConfigureAwait(false);
        return [.. description.Shards.Select(static shard => new ShardDescriptor(
            shard.ShardId,
            string.IsNullOrEmpty(shard.ParentShardId) ? [] : [shard.ParentShardId]))];
    }

    protected override async Task ReadShardAsync(ShardReader reader, CancellationToken token)
    {
        ArgumentNullException.ThrowIfNull(reader);
        string shardId = reader.Lease.ShardId;
        string initial = reader.Lease.Current.Checkpoint;
        SequenceNumber last = reader.Lease.Current.Position;
        string? iterator = null;
        long lastRead = 0;

        // A failed read is retried (with back-off, from a fresh iterator) until one succeeds: an outage blocks the shard
        // and skips nothing. The streak restarts the back-off at each successful read.
        Polly.ResiliencePipeline retry = CreateReadRetry(_options.ReadRetry);
        var streak = new RetryStreak();
        Action<Exception, int, TimeSpan> onFailed = (ex, _, wait) =>
        {
            ReportFailedRead(ex);
            DynamoDbStreamsLog.ReadFailed(Logger, ex, _options.Stream, shardId, wait);
            iterator = null;
        };

        async ValueTask<bool> ReadOnceAsync(CancellationToken cancellationToken)
        {
            try
            {
                iterator ??= await GetIteratorAsync(shardId, initial, last, cancellationToken).ConfigureAwait(false);
                await PaceReadAsync(lastRead, _options.MinTimeBetweenReads, cancellationToken).ConfigureAwait(false);
                DynamoDbGetRecordsResponse response = await _streams.GetRecordsAsync(iterator, _options.MaxRecordsPerRead, cancellationToken).ConfigureAwait(false);
                lastRead = Time.GetTimestamp();
                streak.Reset();
                foreach (DynamoDbChangeRecord change in response.Records)
                {
                    StreamRecord record = ToRecord(shardId, change);
                    if (record.Position <= last)
                    {
                        continue;
                    }

                    await reader.Processor.EnqueueAsync(record, cancellationToken).ConfigureAwait(false);
                    last = record.Position;
                }

                iterator = response.NextShardIterator;
                if (iterator is null)
                {
                    // SHARD_END: the shard was closed (they roll over every few hours). Its children wait until this
                    // is checkpointed. The read does not name the children: the shards are listed instead.
                    await EndShardAsync(reader, [], cancellationToken).ConfigureAwait(false);
                    return true;
                }

                if (response.Records.Count == 0)
                {
                    await Task.Delay(_options.IdleTimeBetweenReads, Time, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (AwsServiceException ex) when (ex.Kind is AwsErrorKind.ExpiredIterator)
            {
                // Iterators live 15 minutes (a long backpressure pause outlasts them): start again after the last
                // record enqueued.
                DynamoDbStreamsLog.IteratorExpired(Logger, _options.Stream, shardId, last.ToString());
                iterator = null;
            }
            catch (AwsServiceException ex) when (ex.Kind is AwsErrorKind.TrimmedData && !last.IsNone)
            {
                // The position is older than the 24-hour retention: what lay between is gone. Say so loudly and go
                // on from the oldest record left, rather than stop the shard for good.
                DynamoDbStreamsLog.Trimmed(Logger, ex, _options.Stream, shardId, last.ToString());
                Host.ReportFault(ex);
                last = SequenceNumber.None;
                initial = Lease.TrimHorizon;
                iterator = null;
            }

            return false;
        }

        Func<CancellationToken, ValueTask<bool>> readOnce = ReadOnceAsync;
        while (!token.IsCancellationRequested)
        {
            try
            {
                if (await retry.ExecuteAsync(static (read, ct) => read(ct), readOnce, onFailed, token, streak).ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private Task<string> GetIteratorAsync(string shardId, string initialCheckpoint, SequenceNumber last, CancellationToken cancellationToken)
    {
        if (!last.IsNone)
        {
            // No aggregation on DynamoDB streams: every record is whole, so reading resumes just after the last one.
            return _streams.GetShardIteratorAsync(_streamArn, shardId, DynamoDbShardIteratorType.AfterSequenceNumber, last.Value, cancellationToken);
        }

        return _streams.GetShardIteratorAsync(
            _streamArn,
            shardId,
            initialCheckpoint == Lease.Latest ? DynamoDbShardIteratorType.Latest : DynamoDbShardIteratorType.TrimHorizon,
            cancellationToken: cancellationToken);
    }

    private StreamRecord ToRecord(string shardId, DynamoDbChangeRecord change)
    {
        var attributes = new Dictionary<string, string>(2, StringComparer.Ordinal)
        {
            ["eventName"] = change.EventName,
            ["eventID"] = change.EventId,
        };
        return new StreamRecord(
            SourceKind.DynamoDbStreams,
            _options.Stream,
            shardId,
            new SequenceNumber(change.Dynamodb.SequenceNumber),
            DynamoDbChange.PartitionKeyOf(change.Dynamodb.Keys),
            DynamoDbStreamsJson.Serialize(change),
            change.Dynamodb.ApproximateCreationDateTime ?? Time.GetUtcNow(),
            attributes);
    }
}

internal static partial class DynamoDbStreamsLog
{
    [LoggerMessage(301, LogLevel.Information, "DynamoDB stream {Stream}/{Shard}: the shard iterator expired; reading again after {Position}.")]
    public static partial void IteratorExpired(ILogger logger, string stream, string shard, string position);

    [LoggerMessage(302, LogLevel.Warning, "DynamoDB stream {Stream}/{Shard}: reading failed; retrying in {Delay}.")]
    public static partial void ReadFailed(ILogger logger, Exception exception, string stream, string shard, TimeSpan delay);

    [LoggerMessage(303, LogLevel.Error, "DynamoDB stream {Stream}/{Shard}: position {Position} is past the stream's retention; the records after it were trimmed before they were read. Reading goes on from the oldest record left.")]
    public static partial void Trimmed(ILogger logger, Exception exception, string stream, string shard, string position);
}
