using Amazon.DynamoDBv2;
using Microsoft.Extensions.Logging;
using StreamLanes.Aws;
using StreamLanes.Checkpointing;
using StreamLanes.DynamoDb;

namespace StreamLanes.Kinesis;

/// <summary>
/// Reads a Kinesis stream by polling (GetRecords), one reader per shard whose lease this worker holds; leases live
/// in a DynamoDB table in KCL's shape and are shared with the other workers of the same consumer.
/// </summary>
internal sealed partial class KinesisSource : LeasedShardSource
{
    private readonly KinesisSourceOptions _options;
    private readonly KinesisClient _kinesis;
    private KeyValuePair<string, object?> _consumerTag;

    public KinesisSource(KinesisSourceOptions options, KinesisClient kinesis, IAmazonDynamoDB dynamoDb, TimeProvider timeProvider, ILogger logger)
        : base(dynamoDb, options.Leases, timeProvider, logger)
    {
        _options = options;
        _kinesis = kinesis;
    }

    public override SourceKind Kind => SourceKind.Kinesis;

    public override string StreamName => _options.StreamName;

    protected override string InitialCheckpoint => _options.StartingPosition switch
    {
        KinesisStartingPosition.Latest => Lease.Latest,
        KinesisStartingPosition.AtTimestamp => Lease.AtTimestamp,
        _ => Lease.TrimHorizon,
    };

    protected override async Task PrepareAsync(CancellationToken cancellationToken)
    {
        _consumerTag = new KeyValuePair<string, object?>("consumer", Host.ConsumerName);
        KinesisStreamSummary summary;
        try
        {
            summary = await _kinesis.DescribeStreamSummaryAsync(_options.StreamName, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.ResourceNotFound)
        {
            throw new InvalidOperationException($"Kinesis stream '{_options.StreamName}' was not found in region {_options.Aws.Region} at {_kinesis.Endpoint}.", ex);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.AccessDenied)
        {
            throw new InvalidOperationException($"Kinesis refused access to stream '{_options.StreamName}' ({ex.ErrorCode}): check the credentials and the IAM policy (kinesis:DescribeStreamSummary, ListShards, GetShardIterator, GetRecords).", ex);
        }

        if (_options.ReadMode == KinesisReadMode.EnhancedFanOut)
        {
            await PrepareFanOutAsync(summary.StreamArn, cancellationToken).ConfigureAwait(false);
        }
    }

    protected override void DisposeClients()
    {
        _kinesis.Dispose();
        _fanOutConsumerGate.Dispose();
    }

    protected override async Task<IReadOnlyList<ShardDescriptor>> ListShardsAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<KinesisShard> shards = await _kinesis.ListAllShardsAsync(_options.StreamName, cancellationToken: cancellationToken).ConfigureAwait(false);
        return [.. shards.Select(shard => new ShardDescriptor(
            shard.ShardId,
            new[] { shard.ParentShardId, shard.AdjacentParentShardId }.Where(parent => !string.IsNullOrEmpty(parent)).Select(parent => parent!).ToArray(),
            NullIfEmpty(shard.HashKeyRange.StartingHashKey),
            NullIfEmpty(shard.HashKeyRange.EndingHashKey)))];
    }

    protected override Task ReadShardAsync(ShardReader reader, CancellationToken token)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return _options.ReadMode == KinesisReadMode.EnhancedFanOut ? ReadShardByFanOutAsync(reader, token) : PollShardAsync(reader, token);
    }

    private async Task PollShardAsync(ShardReader reader, CancellationToken token)
    {
        string shardId = reader.Lease.ShardId;
        string initial = reader.Lease.Current.Checkpoint;
        SequenceNumber last = reader.Lease.Current.Position;
        string? iterator = null;
        TimeSpan backoff = _options.ReadBackoff;
        long lastRead = 0;
        var shardTag = new KeyValuePair<string, object?>("shard", shardId);
        Task<KinesisGetRecordsResponse>? readAhead = null;
        while (!token.IsCancellationRequested)
        {
            try
            {
                KinesisGetRecordsResponse response;
                if (readAhead is not null)
                {
                    Task<KinesisGetRecordsResponse> pending = readAhead;
                    readAhead = null;
                    response = await pending.ConfigureAwait(false);
                }
                else
                {
                    iterator ??= await GetIteratorAsync(shardId, initial, last, token).ConfigureAwait(false);
                    response = await ReadPacedAsync(iterator, lastRead, token).ConfigureAwait(false);
                }

                lastRead = Time.GetTimestamp();
                backoff = _options.ReadBackoff;
                if (response.MillisBehindLatest is long behind)
                {
                    StreamLanesMetrics.For(Host).MillisBehindLatest.Record(behind, _consumerTag, shardTag);
                }

                iterator = response.NextShardIterator;
                if (iterator is not null && response.Records.Count > 0)
                {
                    // Read the next page while this one is handed to the lanes: the call's latency overlaps the
                    // enqueueing (and any backpressure wait) instead of adding to it. At most one page is held
                    // beyond the buffer bounds.
                    readAhead = ReadPacedAsync(iterator, lastRead, token);
                }

                foreach (KinesisRecord record in response.Records)
                {
                    foreach (StreamRecord user in Expand(shardId, record))
                    {
                        if (user.Position <= last)
                        {
                            continue; // at or before the checkpoint: an iterator at AT_SEQUENCE_NUMBER repeats it
                        }

                        await reader.Processor.EnqueueAsync(user, token).ConfigureAwait(false);
                        last = user.Position;
                    }
                }

                if (iterator is null)
                {
                    // SHARD_END: the shard was split or merged. Its children wait until this is checkpointed.
                    await EndShardAsync(reader, ChildrenOf(response.ChildShards), token).ConfigureAwait(false);
                    return;
                }

                if (response.Records.Count == 0)
                {
                    await Task.Delay(_options.IdleTimeBetweenReads, Time, token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                Forget(ref readAhead);
                return;
            }
            catch (AwsServiceException ex) when (ex.Kind is AwsErrorKind.ExpiredIterator)
            {
                Forget(ref readAhead);
                // Iterators live five minutes (a long backpressure pause outlasts them): start again after the
                // last record enqueued.
                KinesisLog.IteratorExpired(Logger, _options.StreamName, shardId, last.ToString());
                iterator = null;
            }
            catch (Exception ex)
            {
                Forget(ref readAhead);
                TimeSpan? next = await BackOffAfterFailedReadAsync(ex, backoff, _options.MaxReadBackoff, wait => KinesisLog.ReadFailed(Logger, ex, _options.StreamName, shardId, wait), token).ConfigureAwait(false);
                if (next is not TimeSpan nextBackoff)
                {
                    return;
                }

                backoff = nextBackoff;
                if (ex is AwsServiceException { Kind: AwsErrorKind.TrimmedData })
                {
                    iterator = null;
                }
            }
        }
    }

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    /// <summary>The shards continuing a closed one, as the read that reached its end named them.</summary>
    private static ShardDescriptor[] ChildrenOf(IReadOnlyList<KinesisChildShard>? childShards)
        => childShards is { Count: > 0 } children
            ? [.. children.Select(child => new ShardDescriptor(child.ShardId, child.ParentShards, NullIfEmpty(child.HashKeyRange.StartingHashKey), NullIfEmpty(child.HashKeyRange.EndingHashKey)))]
            : [];

    /// <summary>A GetRecords call that keeps <see cref="KinesisSourceOptions.MinTimeBetweenReads"/> after the previous one.</summary>
    private async Task<KinesisGetRecordsResponse> ReadPacedAsync(string iterator, long lastRead, CancellationToken cancellationToken)
    {
        await PaceReadAsync(lastRead, _options.MinTimeBetweenReads, cancellationToken).ConfigureAwait(false);
        return await _kinesis.GetRecordsAsync(iterator, _options.MaxRecordsPerRead, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Drops a read-ahead whose page will be read again from the last enqueued record; its failure is not news.</summary>
    private static void Forget(ref Task<KinesisGetRecordsResponse>? readAhead)
    {
        readAhead?.ContinueWith(static task => _ = task.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        readAhead = null;
    }

    private Task<string> GetIteratorAsync(string shardId, string initialCheckpoint, SequenceNumber last, CancellationToken cancellationToken)
    {
        if (!last.IsNone)
        {
            // AT (not AFTER) the last position: a KPL aggregate may be only partly done; records at or before
            // the position are skipped on arrival.
            return _kinesis.GetShardIteratorAsync(_options.StreamName, shardId, KinesisShardIteratorType.AtSequenceNumber, last.Value, cancellationToken: cancellationToken);
        }

        return initialCheckpoint switch
        {
            Lease.Latest => _kinesis.GetShardIteratorAsync(_options.StreamName, shardId, KinesisShardIteratorType.Latest, cancellationToken: cancellationToken),
            Lease.AtTimestamp => _kinesis.GetShardIteratorAsync(_options.StreamName, shardId, KinesisShardIteratorType.AtTimestamp, timestamp: _options.StartingTimestamp, cancellationToken: cancellationToken),
            _ => _kinesis.GetShardIteratorAsync(_options.StreamName, shardId, KinesisShardIteratorType.TrimHorizon, cancellationToken: cancellationToken),
        };
    }

    private IEnumerable<StreamRecord> Expand(string shardId, KinesisRecord record)
        => Expand(_options.StreamName, shardId, record, _options.DeaggregateKplRecords, Time);

    /// <summary>
    /// The records a Kinesis record stands for: its KPL user records, numbered by sub-sequence number in aggregate
    /// order, or the record itself (sub-sequence 0) when it is not an aggregate or deaggregation is off.
    /// </summary>
    internal static IEnumerable<StreamRecord> Expand(string streamName, string shardId, KinesisRecord record, bool deaggregate, TimeProvider time)
    {
        DateTimeOffset arrival = record.ApproximateArrivalTimestamp ?? time.GetUtcNow();
        IReadOnlyList<KplDeaggregator.UserRecord>? users = deaggregate ? KplDeaggregator.TryDeaggregate(record.Data) : null;
        if (users is null)
        {
            yield return new StreamRecord(SourceKind.Kinesis, streamName, shardId, new SequenceNumber(record.SequenceNumber), record.PartitionKey, record.Data, arrival);
            yield break;
        }

        for (int i = 0; i < users.Count; i++)
        {
            yield return new StreamRecord(SourceKind.Kinesis, streamName, shardId, new SequenceNumber(record.SequenceNumber, i), users[i].PartitionKey, users[i].Data, arrival);
        }
    }
}

internal static partial class KinesisLog
{
    [LoggerMessage(201, LogLevel.Information, "Kinesis {Stream}/{Shard}: the shard iterator expired; reading again after {Position}.")]
    public static partial void IteratorExpired(ILogger logger, string stream, string shard, string position);

    [LoggerMessage(202, LogLevel.Warning, "Kinesis {Stream}/{Shard}: reading failed; retrying in {Delay}.")]
    public static partial void ReadFailed(ILogger logger, Exception exception, string stream, string shard, TimeSpan delay);
}
