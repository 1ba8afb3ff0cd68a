using Microsoft.Extensions.Logging;
using StreamLanes.Aws;
using StreamLanes.Kinesis.EventStream;
using StreamLanes.Checkpointing;

namespace StreamLanes.Kinesis;

// Enhanced fan-out: records are pushed over one SubscribeToShard per leased shard instead of polled.
internal sealed partial class KinesisSource
{
    private readonly SemaphoreSlim _fanOutConsumerGate = new(1, 1);

    /// <summary>How soon a subscription refused with ResourceInUse is tried again (jittered).</summary>
    private static readonly BackoffOptions ResourceInUseRetry = BackoffOptions.Of(TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(500));

    private string FanOutConsumerName => _options.FanOut.ConsumerName ?? Host.ConsumerName;

    /// <summary>Registers the stream consumer (or reuses the one another worker or an earlier run registered).</summary>
    private async Task PrepareFanOutAsync(KinesisStreamState stream, CancellationToken cancellationToken)
    {
        try
        {
            await EnsureFanOutConsumerAsync(stream, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.AccessDenied)
        {
            throw new InvalidOperationException($"Kinesis refused to register the enhanced fan-out consumer '{FanOutConsumerName}' on stream '{stream.Name}' ({ex.ErrorCode}): check the IAM policy (kinesis:RegisterStreamConsumer, DescribeStreamConsumer, SubscribeToShard).", ex);
        }
    }

    private async Task<KinesisStreamConsumer> EnsureFanOutConsumerAsync(KinesisStreamState stream, CancellationToken cancellationToken)
    {
        await _fanOutConsumerGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (stream.FanOutConsumer is { } known)
            {
                return known;
            }

            KinesisStreamConsumer consumer = await _kinesis.EnsureStreamConsumerActiveAsync(stream.Arn, FanOutConsumerName, cancellationToken).ConfigureAwait(false);
            KinesisLog.FanOutConsumerReady(Logger, stream.Name, FanOutConsumerName);
            stream.FanOutConsumer = consumer;
            return consumer;
        }
        finally
        {
            _fanOutConsumerGate.Release();
        }
    }

    protected override async Task AfterReleaseAsync(CancellationToken cancellationToken)
    {
        if (_options.ReadMode != KinesisReadMode.EnhancedFanOut || !_options.FanOut.DeregisterOnStop)
        {
            return;
        }

        foreach (KinesisStreamState stream in AllStreams.Where(stream => stream.FanOutConsumer is not null))
        {
            try
            {
                await _kinesis.DeregisterStreamConsumerAsync(stream.Arn, FanOutConsumerName, cancellationToken).ConfigureAwait(false);
                KinesisLog.FanOutConsumerDeregistered(Logger, stream.Name, FanOutConsumerName);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                KinesisLog.FanOutDeregisterFailed(Logger, ex, stream.Name, FanOutConsumerName);
            }
        }
    }

    /// <summary>
    /// Reads a shard through subscriptions until its end, the stop or the lease's loss. Each subscription is read one
    /// event at a time and only while the shard's buffer takes records, so a full buffer stops the flow through HTTP/2
    /// flow control. Subscriptions are renewed (by the service after five minutes, or by
    /// <see cref="KinesisFanOutOptions.SubscriptionRenewal"/>) from the last continuation sequence number: no gap, no
    /// repeat.
    /// </summary>
    private async Task ReadShardByFanOutAsync(ShardReader reader, CancellationToken token)
    {
        KinesisStreamState stream = StreamOf(reader);
        string shardId = stream.ShardIdOf(reader.Lease.ShardId);
        string initial = reader.Lease.Current.Checkpoint;
        SequenceNumber last = reader.Lease.Current.Position;

        // Set only once every record of the event that carried it was enqueued: resuming after it skips nothing.
        string? continuation = null;
        long inUseSince = 0;
        var shardTag = new KeyValuePair<string, object?>("shard", shardId);

        // LimitExceeded, throttling, a dropped connection, a subscription held elsewhere for too long: subscribe again
        // after the back-off, from the last position, until it succeeds (the streak restarts it at each event). What
        // else fails escapes to the reader as fatal.
        Polly.ResiliencePipeline retry = CreateReadRetry(
            _options.ReadRetry,
            static ex => ex is AwsServiceException or HttpRequestException or IOException or TimeoutException or EventStreamFormatException or System.Text.Json.JsonException);
        var streak = new RetryStreak();
        Action<Exception, int, TimeSpan> onFailed = (ex, _, wait) =>
        {
            if (ex is AwsServiceException { Kind: AwsErrorKind.ResourceNotFound })
            {
                stream.FanOutConsumer = null; // the stream consumer may have been deregistered: register it again
            }

            ReportFailedRead(ex);
            KinesisLog.SubscriptionFailed(Logger, ex, stream.Name, shardId, wait);
        };

        // The shard's previous subscription (this reader's own before a renewal, or the previous lease owner's until it
        // notices the move) still counts as active for a moment: subscribe again soon, without reporting a fault,
        // unless it lasts longer than a lease takeover can (then it is a failure like the others above).
        Polly.ResiliencePipeline inUseRetry = ResiliencePipelines.UntilSuccess(
            "StreamLanes.Kinesis.SubscriptionInUse",
            ResourceInUseRetry,
            Time,
            shouldRetry: ex =>
            {
                if (ex is not AwsServiceException { Kind: AwsErrorKind.ResourceInUse })
                {
                    return false;
                }

                long now = Time.GetTimestamp();
                inUseSince = inUseSince == 0 ? now : inUseSince;
                return Time.GetElapsedTime(inUseSince, now) < _options.Leases.FailoverTime;
            });
        Action<Exception, int, TimeSpan> onInUse = (_, _, _) => KinesisLog.SubscriptionInUse(Logger, stream.Name, shardId);

        async ValueTask<bool> SubscribeOnceAsync(CancellationToken cancellationToken)
        {
            KinesisStreamConsumer consumer = await EnsureFanOutConsumerAsync(stream, cancellationToken).ConfigureAwait(false);
            KinesisSubscriptionStart start = SubscriptionStart(stream, initial, last, continuation);
            await using KinesisShardSubscription subscription = await _kinesis.SubscribeToShardAsync(consumer.ConsumerArn, shardId, start, cancellationToken).ConfigureAwait(false);
            long subscribedAt = Time.GetTimestamp();
            long idleSince = subscribedAt;
            while (true)
            {
                KinesisSubscribeToShardEvent? next = await subscription.ReadEventAsync(cancellationToken).ConfigureAwait(false);
                if (next is null)
                {
                    break; // the service ended the subscription (after five minutes): subscribe again
                }

                MarkReadSucceeded();
                streak.Reset();
                inUseSince = 0;
                if (next.MillisBehindLatest is long behind)
                {
                    StreamLanesMetrics.For(Host).MillisBehindLatest.Record(behind, _consumerTag, stream.Tag, shardTag);
                }

                last = await EnqueueAfterAsync(reader, stream, shardId, next.Records, last, cancellationToken).ConfigureAwait(false);

                continuation = next.ContinuationSequenceNumber ?? continuation;
                if (next.ChildShards is { Count: > 0 } && next.ContinuationSequenceNumber is null)
                {
                    // SHARD_END as AWS announces it: every record of the shard was delivered.
                    await EndShardAsync(reader, ChildrenOf(stream, next.ChildShards), cancellationToken).ConfigureAwait(false);
                    return true;
                }

                if (next.Records.Count > 0)
                {
                    idleSince = Time.GetTimestamp();
                }
                else if (Time.GetElapsedTime(idleSince) >= _options.FanOut.ShardEndProbeInterval)
                {
                    idleSince = Time.GetTimestamp();
                    if (await ProbeShardEndAsync(stream, shardId, initial, last, continuation, cancellationToken).ConfigureAwait(false) is { } children)
                    {
                        await EndShardAsync(reader, children, cancellationToken).ConfigureAwait(false);
                        return true;
                    }
                }

                if (Time.GetElapsedTime(subscribedAt) >= _options.FanOut.SubscriptionRenewal)
                {
                    // Renewed between events, never while one is awaited: every subscription delivers at least one
                    // event, so a renewal shorter than the service's first push cannot starve the shard.
                    break;
                }
            }

            return false;
        }

        Func<CancellationToken, ValueTask<bool>> subscribeOnce = SubscribeOnceAsync;
        while (!token.IsCancellationRequested)
        {
            try
            {
                bool ended = await retry.ExecuteAsync(
                    static (state, ct) => state.inUseRetry.ExecuteAsync(static (subscribe, ct2) => subscribe(ct2), state.subscribeOnce, state.onInUse, ct),
                    (inUseRetry, subscribeOnce, onInUse),
                    onFailed,
                    token,
                    streak).ConfigureAwait(false);
                if (ended)
                {
                    return;
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return; // stopped, or the lease was lost: disposing the subscription ended it at once
            }
        }
    }

    /// <summary>Where a (re)subscription starts: after the last continuation, else at the last record, else the lease's initial position.</summary>
    private static KinesisSubscriptionStart SubscriptionStart(KinesisStreamState stream, string initialCheckpoint, SequenceNumber last, string? continuation)
    {
        if (continuation is not null)
        {
            return new KinesisSubscriptionStart(KinesisShardIteratorType.AfterSequenceNumber, continuation);
        }

        if (!last.IsNone)
        {
            // AT (not AFTER): a KPL aggregate may be only partly done; records at or before the position are skipped.
            return new KinesisSubscriptionStart(KinesisShardIteratorType.AtSequenceNumber, last.Value);
        }

        return initialCheckpoint switch
        {
            Lease.Latest => new KinesisSubscriptionStart(KinesisShardIteratorType.Latest),
            Lease.AtTimestamp => new KinesisSubscriptionStart(KinesisShardIteratorType.AtTimestamp, Timestamp: stream.StartingTimestamp),
            _ => new KinesisSubscriptionStart(KinesisShardIteratorType.TrimHorizon),
        };
    }

    /// <summary>
    /// Whether an idle shard has ended, asked the polling way (a GetRecords after the last position that answers with no
    /// next iterator names the children). AWS announces a shard's end in the subscription itself; this also covers
    /// services that do not (kinesis-mock), at one GetShardIterator and one GetRecords per idle probe interval.
    /// </summary>
    /// <returns>The children when the shard has ended; <see langword="null"/> while it is open or still has records.</returns>
    private async Task<IReadOnlyList<ShardDescriptor>?> ProbeShardEndAsync(KinesisStreamState stream, string shardId, string initial, SequenceNumber last, string? continuation, CancellationToken cancellationToken)
    {
        string iterator = continuation is not null
            ? await _kinesis.GetShardIteratorAsync(stream.Name, shardId, KinesisShardIteratorType.AfterSequenceNumber, continuation, cancellationToken: cancellationToken).ConfigureAwait(false)
            : await GetIteratorAsync(stream, shardId, initial, last, cancellationToken).ConfigureAwait(false);
        KinesisGetRecordsResponse response = await _kinesis.GetRecordsAsync(iterator, 1, cancellationToken).ConfigureAwait(false);
        bool ended = response.NextShardIterator is null && response.Records.All(record => new SequenceNumber(record.SequenceNumber) <= last);
        return ended ? ChildrenOf(stream, response.ChildShards) : null;
    }
}

internal static partial class KinesisLog
{
    [LoggerMessage(203, LogLevel.Information, "Kinesis {Stream}: enhanced fan-out consumer '{ConsumerName}' is ACTIVE.")]
    public static partial void FanOutConsumerReady(ILogger logger, string stream, string consumerName);

    [LoggerMessage(204, LogLevel.Warning, "Kinesis {Stream}/{Shard}: the shard's subscription failed; subscribing again in {Delay}.")]
    public static partial void SubscriptionFailed(ILogger logger, Exception exception, string stream, string shard, TimeSpan delay);

    [LoggerMessage(207, LogLevel.Debug, "Kinesis {Stream}/{Shard}: the shard's previous subscription is still active; subscribing again shortly.")]
    public static partial void SubscriptionInUse(ILogger logger, string stream, string shard);

    [LoggerMessage(205, LogLevel.Information, "Kinesis {Stream}: enhanced fan-out consumer '{ConsumerName}' deregistered on stop.")]
    public static partial void FanOutConsumerDeregistered(ILogger logger, string stream, string consumerName);

    [LoggerMessage(206, LogLevel.Warning, "Kinesis {Stream}: deregistering enhanced fan-out consumer '{ConsumerName}' failed; it stays registered (and billed) until deleted.")]
    public static partial void FanOutDeregisterFailed(ILogger logger, Exception exception, string stream, string consumerName);
}
