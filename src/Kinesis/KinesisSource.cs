using Amazon.DynamoDBv2;
using Microsoft.Extensions.Logging;
using StreamLanes.Aws;
using StreamLanes.Checkpointing;
using StreamLanes.DynamoDb;

namespace StreamLanes.Kinesis;

/// <summary>
/// Reads a Kinesis stream, or several (KCL's multi-stream mode, see KinesisSource.MultiStream.cs), by polling
/// (GetRecords) or enhanced fan-out, one reader per shard whose lease this worker holds; leases live in a DynamoDB
/// table in KCL's shape and are shared with the other workers of the same consumer.
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

    public override string StreamName => _options.IsMultiStream ? string.Join(", ", _streams.Values.Select(stream => stream.Name).Order(StringComparer.Ordinal)) : _options.StreamName;

    protected override string InitialCheckpoint => _options.StartingPosition switch
    {
        KinesisStartingPosition.Latest => Lease.Latest,
        KinesisStartingPosition.AtTimestamp => Lease.AtTimestamp,
        _ => Lease.TrimHorizon,
    };

    protected override async Task PrepareAsync(CancellationToken cancellationToken)
    {
        _consumerTag = new KeyValuePair<string, object?>("consumer", Host.ConsumerName);
        if (_options.IsMultiStream)
        {
            await PrepareStreamsAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

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

        _single = new KinesisStreamState(_options.StreamName, summary.StreamArn, streamId: null, _options.StartingPosition, _options.StartingTimestamp);
        if (_options.ReadMode == KinesisReadMode.EnhancedFanOut)
        {
            await PrepareFanOutAsync(_single, cancellationToken).ConfigureAwait(false);
        }
    }

    protected override void DisposeClients()
    {
        _kinesis.Dispose();
        _fanOutConsumerGate.Dispose();
        _discoveryStop.Dispose();
    }

    protected override Task<IReadOnlyList<ShardDescriptor>> ListShardsAsync(CancellationToken cancellationToken)
        => _options.IsMultiStream ? ListAllStreamsShardsAsync(cancellationToken) : ListShardsAsync(_single!, cancellationToken);

    /// <summary>One stream's shards, named by their lease keys, parents included.</summary>
    private async Task<IReadOnlyList<ShardDescriptor>> ListShardsAsync(KinesisStreamState stream, CancellationToken cancellationToken)
    {
        IReadOnlyList<KinesisShard> shards = await _kinesis.ListAllShardsAsync(stream.Name, cancellationToken: cancellationToken).ConfigureAwait(false);
        return [.. shards.Select(shard => new ShardDescriptor(
            stream.LeaseKeyOf(shard.ShardId),
            new[] { shard.ParentShardId, shard.AdjacentParentShardId }.Where(parent => !string.IsNullOrEmpty(parent)).Select(parent => stream.LeaseKeyOf(parent!)).ToArray(),
            NullIfEmpty(shard.HashKeyRange.StartingHashKey),
            NullIfEmpty(shard.HashKeyRange.EndingHashKey),
            stream.InitialCheckpoint))];
    }

    protected override Task ReadShardAsync(ShardReader reader, CancellationToken token)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return _options.ReadMode == KinesisReadMode.EnhancedFanOut ? ReadShardByFanOutAsync(reader, token) : PollShardAsync(reader, token);
    }

    private async Task PollShardAsync(ShardReader reader, CancellationToken token)
    {
        KinesisStreamState stream = StreamOf(reader);
        string shardId = stream.ShardIdOf(reader.Lease.ShardId);
        string initial = reader.Lease.Current.Checkpoint;
        SequenceNumber last = reader.Lease.Current.Position;
        string? iterator = null;
        long lastRead = 0;
        var shardTag = new KeyValuePair<string, object?>("shard", shardId);
        Task<KinesisGetRecordsResponse>? readAhead = null;

        // A failed read is retried (with back-off) until one succeeds: an outage blocks the shard and skips nothing.
        // The streak restarts the back-off at each successful read.
        Polly.ResiliencePipeline retry = CreateReadRetry(_options.ReadRetry);
        var streak = new RetryStreak();
        Action<Exception, int, TimeSpan> onFailed = (ex, _, wait) =>
        {
            Forget(ref readAhead);
            ReportFailedRead(ex);
            KinesisLog.ReadFailed(Logger, ex, stream.Name, shardId, wait);
            if (ex is AwsServiceException { Kind: AwsErrorKind.TrimmedData })
            {
                iterator = null;
            }
        };

        async ValueTask<bool> ReadOnceAsync(CancellationToken cancellationToken)
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
                    iterator ??= await GetIteratorAsync(stream, shardId, initial, last, cancellationToken).ConfigureAwait(false);
                    response = await ReadPacedAsync(iterator, lastRead, cancellationToken).ConfigureAwait(false);
                }

                lastRead = Time.GetTimestamp();
                streak.Reset();
                if (response.MillisBehindLatest is long behind)
                {
                    StreamLanesMetrics.For(Host).MillisBehindLatest.Record(behind, _consumerTag, stream.Tag, shardTag);
                }

                iterator = response.NextShardIterator;
                if (iterator is not null && response.Records.Count > 0)
                {
                    // Read the next page while this one is handed to the lanes: the call's latency overlaps the
                    // enqueueing (and any backpressure wait) instead of adding to it. At most one page is held
                    // beyond the buffer bounds.
                    readAhead = ReadPacedAsync(iterator, lastRead, cancellationToken);
                }

                last = await EnqueueAfterAsync(reader, stream, shardId, response.Records, last, cancellationToken).ConfigureAwait(false);

                if (iterator is null)
                {
                    // SHARD_END: the shard was split or merged. Its children wait until this is checkpointed.
                    await EndShardAsync(reader, ChildrenOf(stream, response.ChildShards), cancellationToken).ConfigureAwait(false);
                    return true;
                }

                if (response.Records.Count == 0)
                {
                    await Task.Delay(_options.IdleTimeBetweenReads, Time, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (AwsServiceException ex) when (ex.Kind is AwsErrorKind.ExpiredIterator)
            {
                Forget(ref readAhead);
                // Iterators live five minutes (a long backpressure pause outlasts them): start again after the
                // last record enqueued.
                KinesisLog.IteratorExpired(Logger, stream.Name, shardId, last.ToString());
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
                Forget(ref readAhead);
                return;
            }
        }
    }

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    /// <summary>The shards continuing a closed one, as the read that reached its end named them (by lease key).</summary>
    private static ShardDescriptor[] ChildrenOf(KinesisStreamState stream, IReadOnlyList<KinesisChildShard>? childShards)
        => childShards is { Count: > 0 } children
            ? [.. children.Select(child => new ShardDescriptor(
                stream.LeaseKeyOf(child.ShardId),
                [.. child.ParentShards.Select(stream.LeaseKeyOf)],
                NullIfEmpty(child.HashKeyRange.StartingHashKey),
                NullIfEmpty(child.HashKeyRange.EndingHashKey)))]
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

    private Task<string> GetIteratorAsync(KinesisStreamState stream, string shardId, string initialCheckpoint, SequenceNumber last, CancellationToken cancellationToken)
    {
        if (!last.IsNone)
        {
            // AT (not AFTER) the last position: a KPL aggregate may be only partly done; records at or before
            // the position are skipped on arrival.
            return _kinesis.GetShardIteratorAsync(stream.Name, shardId, KinesisShardIteratorType.AtSequenceNumber, last.Value, cancellationToken: cancellationToken);
        }

        return initialCheckpoint switch
        {
            Lease.Latest => _kinesis.GetShardIteratorAsync(stream.Name, shardId, KinesisShardIteratorType.Latest, cancellationToken: cancellationToken),
            Lease.AtTimestamp => _kinesis.GetShardIteratorAsync(stream.Name, shardId, KinesisShardIteratorType.AtTimestamp, timestamp: stream.StartingTimestamp, cancellationToken: cancellationToken),
            _ => _kinesis.GetShardIteratorAsync(stream.Name, shardId, KinesisShardIteratorType.TrimHorizon, cancellationToken: cancellationToken),
        };
    }

    /// <summary>
    /// Enqueues the user records of a page (KPL aggregates expanded) that come after <paramref name="last"/>: a read or
    /// a subscription that starts AT_SEQUENCE_NUMBER repeats the record at the checkpoint.
    /// </summary>
    /// <returns>The position of the last record enqueued (<paramref name="last"/> when none was).</returns>
    private async ValueTask<SequenceNumber> EnqueueAfterAsync(ShardReader reader, KinesisStreamState stream, string shardId, IReadOnlyList<KinesisRecord> records, SequenceNumber last, CancellationToken cancellationToken)
    {
        foreach (KinesisRecord record in records)
        {
            foreach (StreamRecord user in Expand(stream, shardId, record))
            {
                if (user.Position <= last)
                {
                    continue;
                }

                await reader.Processor.EnqueueAsync(user, cancellationToken).ConfigureAwait(false);
                last = user.Position;
            }
        }

        return last;
    }

    private IEnumerable<StreamRecord> Expand(KinesisStreamState stream, string shardId, KinesisRecord record)
        => Expand(stream.Name, shardId, record, _options.DeaggregateKplRecords, Time);

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
