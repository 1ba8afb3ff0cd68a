using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using StreamLanes.Aws;
using StreamLanes.Checkpointing;
using StreamLanes.DynamoDb;

namespace StreamLanes.Kinesis;

// KCL's multi-stream mode: several streams, one lease table, lease keys "account-id:stream-name:creation-epoch:shard-id".
// The coordinator sees only the leases of the streams read now (IsLeaseIncluded); a discovery loop adds streams, retires
// the shards of dropped ones (finishing their records first) and deletes their leases after a delay.
internal sealed partial class KinesisSource
{
    private KinesisStreamState? _single;

    // By stream identifier: the streams read now, and dropped ones whose shards may still be finishing.
    private readonly ConcurrentDictionary<string, KinesisStreamState> _streams = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, KinesisStreamState> _former = new(StringComparer.Ordinal);

    // Only the discovery loop touches these: when each stream not read any more was first seen so, and when an owned
    // lease of such a stream was first seen at its counter (an owner that stopped renewing it is gone).
    private readonly Dictionary<string, long> _droppedAt = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (long Counter, long Since)> _ownedSeen = new(StringComparer.Ordinal);
    private readonly HashSet<string> _keptWhileFinishing = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _discoveryStop = new();
    private FormerStreamLeases? _formerLeases;

    private IEnumerable<KinesisStreamState> AllStreams => _single is { } single ? [single] : _streams.Values.Concat(_former.Values);

    protected override bool IsLeaseIncluded(string leaseKey)
        => !_options.IsMultiStream || (MultiStreamLeaseKey.StreamIdOf(leaseKey) is { } streamId && _streams.ContainsKey(streamId));

    protected override void OnStoppingReading()
    {
        try
        {
            _discoveryStop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Disposed after a stop: nothing runs any more.
        }
    }

    /// <summary>The stream a held shard belongs to (a dropped stream's too, while its shard finishes).</summary>
    private KinesisStreamState StreamOf(ShardReader reader)
    {
        if (_single is { } single)
        {
            return single;
        }

        string? streamId = MultiStreamLeaseKey.StreamIdOf(reader.Lease.ShardId);
        return streamId is not null && (_streams.TryGetValue(streamId, out KinesisStreamState? stream) || _former.TryGetValue(streamId, out stream))
            ? stream
            : throw new InvalidOperationException($"Lease '{reader.Lease.ShardId}' belongs to none of the streams this consumer reads.");
    }

    /// <summary>Finds and describes the first streams; a missing stream of a fixed list fails start-up, naming it.</summary>
    private async Task PrepareStreamsAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<KinesisStreamOptions> wanted = await WantedStreamsAsync(cancellationToken).ConfigureAwait(false);
        foreach (KinesisStreamOptions stream in Distinct(wanted))
        {
            KinesisStreamState state;
            try
            {
                state = await DescribeAsync(stream, cancellationToken).ConfigureAwait(false);
            }
            catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.ResourceNotFound && _options.DiscoverStreams is not null)
            {
                KinesisLog.StreamNotFound(Logger, stream.StreamName);
                continue;
            }
            catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.ResourceNotFound)
            {
                throw new InvalidOperationException($"Kinesis stream '{stream.StreamName}' (in Streams) was not found in region {_options.Aws.Region} at {_kinesis.Endpoint}.", ex);
            }
            catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.AccessDenied)
            {
                throw new InvalidOperationException($"Kinesis refused access to stream '{stream.StreamName}' ({ex.ErrorCode}): check the credentials and the IAM policy (kinesis:DescribeStreamSummary, ListShards, GetShardIterator, GetRecords).", ex);
            }

            _streams[state.StreamId!] = state;
            if (_options.ReadMode == KinesisReadMode.EnhancedFanOut)
            {
                await PrepareFanOutAsync(state, cancellationToken).ConfigureAwait(false);
            }
        }

        _formerLeases = new FormerStreamLeases(DynamoDb, _options.Leases.TableName);
        // Ends with the stop (OnStoppingReading); every failure inside is logged.
        _ = Task.Run(() => DiscoverLoopAsync(_discoveryStop.Token), CancellationToken.None);
    }

    private Task<IReadOnlyList<KinesisStreamOptions>> WantedStreamsAsync(CancellationToken cancellationToken)
        => _options.DiscoverStreams is { } discover ? discover(cancellationToken) : Task.FromResult<IReadOnlyList<KinesisStreamOptions>>([.. _options.Streams]);

    /// <summary>A discovery's streams with blanks and repeats left out (the first of a repeated name wins, with a warning).</summary>
    private List<KinesisStreamOptions> Distinct(IReadOnlyList<KinesisStreamOptions>? streams)
    {
        List<KinesisStreamOptions> named = [.. (streams ?? []).Where(stream => stream is not null && !string.IsNullOrWhiteSpace(stream.StreamName))];
        List<KinesisStreamOptions> distinct = [.. named.DistinctBy(stream => KinesisStreamOptions.NameOf(stream.StreamName), StringComparer.Ordinal)];
        if (distinct.Count != (streams?.Count ?? 0))
        {
            KinesisLog.DiscoveredStreamsIgnored(Logger, (streams?.Count ?? 0) - distinct.Count);
        }

        return distinct;
    }

    private async Task<KinesisStreamState> DescribeAsync(KinesisStreamOptions stream, CancellationToken cancellationToken)
    {
        KinesisStreamSummary summary = await _kinesis.DescribeStreamSummaryAsync(stream.StreamName, cancellationToken).ConfigureAwait(false);
        string streamId = KinesisStreamState.StreamIdOf(stream, summary);
        return _streams.TryGetValue(streamId, out KinesisStreamState? known)
            ? known
            : new KinesisStreamState(stream.StreamName, summary.StreamArn, streamId, stream.StartingPosition ?? _options.StartingPosition, stream.StartingTimestamp ?? _options.StartingTimestamp);
    }

    /// <summary>Every stream's shards, by lease key; a stream that cannot be listed now is left to the next sync.</summary>
    private async Task<IReadOnlyList<ShardDescriptor>> ListAllStreamsShardsAsync(CancellationToken cancellationToken)
    {
        var shards = new List<ShardDescriptor>();
        foreach (KinesisStreamState stream in _streams.Values)
        {
            try
            {
                shards.AddRange(await ListShardsAsync(stream, cancellationToken).ConfigureAwait(false));
            }
            catch (AwsServiceException ex) when (ex.Kind is AwsErrorKind.ResourceNotFound or AwsErrorKind.Throttling)
            {
                // Deleted (the next discovery drops it) or throttled: the other streams' leases are still created.
                KinesisLog.StreamListingFailed(Logger, ex, stream.Name);
            }
        }

        return shards;
    }

    private async Task DiscoverLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.StreamDiscoveryInterval, Time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await RefreshStreamsAsync(cancellationToken).ConfigureAwait(false);
                    await DeleteFormerStreamLeasesAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    KinesisLog.DiscoveryFailed(Logger, ex);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Asks which streams to read (and whether each still exists, under the same creation time), starts reading the new
    /// ones and retires the shards of the dropped ones.
    /// </summary>
    private async Task RefreshStreamsAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<KinesisStreamOptions> wanted;
        try
        {
            wanted = await WantedStreamsAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            KinesisLog.DiscoveryFailed(Logger, ex);
            return; // the streams stay as they are
        }

        var next = new Dictionary<string, KinesisStreamState>(StringComparer.Ordinal);
        foreach (KinesisStreamOptions stream in Distinct(wanted))
        {
            try
            {
                KinesisStreamState state = await DescribeAsync(stream, cancellationToken).ConfigureAwait(false);
                next[state.StreamId!] = state;
            }
            catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.ResourceNotFound)
            {
                KinesisLog.StreamNotFound(Logger, stream.StreamName);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                // Not known to be gone (throttled, unreachable): a stream read now keeps being read.
                KinesisLog.StreamListingFailed(Logger, ex, stream.StreamName);
                foreach (KinesisStreamState current in _streams.Values.Where(s => KinesisStreamOptions.NameOf(s.Name) == KinesisStreamOptions.NameOf(stream.StreamName)))
                {
                    next[current.StreamId!] = current;
                }
            }
        }

        List<KinesisStreamState> added = [.. next.Where(pair => !_streams.ContainsKey(pair.Key)).Select(pair => pair.Value)];
        List<string> dropped = [.. _streams.Keys.Where(id => !next.ContainsKey(id))];
        foreach (string streamId in dropped)
        {
            if (_streams.TryRemove(streamId, out KinesisStreamState? stream))
            {
                // Before the readers stop: the coordinator no longer lists the stream's leases, so none is taken back.
                _former[streamId] = stream;
                _droppedAt[streamId] = Time.GetTimestamp();
                KinesisLog.StreamDropped(Logger, stream.Name, streamId, _options.FormerStreamLeaseDeletionDelay);
                foreach (ShardReader reader in Readers.Where(reader => MultiStreamLeaseKey.StreamIdOf(reader.Lease.ShardId) == streamId))
                {
                    // In the background: a shard whose records keep retrying must not hold up the other streams' discovery.
                    _ = RetireQuietlyAsync(reader, stream, cancellationToken);
                }
            }
        }

        foreach (KinesisStreamState stream in added)
        {
            _former.TryRemove(stream.StreamId!, out _);
            _droppedAt.Remove(stream.StreamId!);
            _streams[stream.StreamId!] = stream;
            KinesisLog.StreamAdded(Logger, stream.Name, stream.StreamId!);
        }

        if (added.Count > 0)
        {
            await Coordinator.SyncShardsAsync(cancellationToken).ConfigureAwait(false);
            Coordinator.RequestTakeRound();
        }
    }

    private async Task RetireQuietlyAsync(ShardReader reader, KinesisStreamState stream, CancellationToken cancellationToken)
    {
        try
        {
            await RetireShardAsync(reader, cancellationToken).ConfigureAwait(false);
            KinesisLog.ShardRetired(Logger, stream.Name, stream.ShardIdOf(reader.Lease.ShardId));
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The lease stays held and renewed: a graceful stop finishes and releases it like any other.
            KinesisLog.RetireFailed(Logger, ex, stream.Name, stream.ShardIdOf(reader.Lease.ShardId));
        }
        catch (OperationCanceledException)
        {
            // Stopping: the stop sequence drains, checkpoints and releases the shard.
        }
    }

    /// <summary>
    /// Deletes the leases of streams not read any more (dropped by this worker, or left in the table by another run)
    /// once <see cref="KinesisSourceOptions.FormerStreamLeaseDeletionDelay"/> has passed since this worker first saw them
    /// so. Never while this worker still finishes one of the stream's shards, nor a lease another worker holds and renews.
    /// </summary>
    private async Task DeleteFormerStreamLeasesAsync(CancellationToken cancellationToken)
    {
        Dictionary<string, List<FormerStreamLeases.Entry>> byStream = await _formerLeases!.ListByStreamAsync(cancellationToken).ConfigureAwait(false);
        long now = Time.GetTimestamp();
        foreach (string gone in _droppedAt.Keys.Where(id => !byStream.ContainsKey(id)).ToList())
        {
            _droppedAt.Remove(gone);
            _keptWhileFinishing.Remove(gone);
            if (!Readers.Any(reader => MultiStreamLeaseKey.StreamIdOf(reader.Lease.ShardId) == gone))
            {
                _former.TryRemove(gone, out _);
            }
        }

        foreach ((string streamId, List<FormerStreamLeases.Entry> leases) in byStream)
        {
            if (_streams.ContainsKey(streamId))
            {
                continue;
            }

            if (!_droppedAt.TryGetValue(streamId, out long since))
            {
                _droppedAt[streamId] = now;
                continue;
            }

            if (Time.GetElapsedTime(since, now) < _options.FormerStreamLeaseDeletionDelay)
            {
                continue;
            }

            if (Readers.Any(reader => MultiStreamLeaseKey.StreamIdOf(reader.Lease.ShardId) == streamId))
            {
                // Records of the stream are still being handled here: its checkpoints must outlive them.
                if (_keptWhileFinishing.Add(streamId))
                {
                    KinesisLog.FormerStreamLeasesKept(Logger, streamId);
                }

                continue;
            }

            int deleted = 0;
            foreach (FormerStreamLeases.Entry lease in leases)
            {
                long? expired = null;
                if (lease.Owner is not null)
                {
                    if (!_ownedSeen.TryGetValue(lease.LeaseKey, out (long Counter, long Since) seen) || seen.Counter != lease.Counter)
                    {
                        _ownedSeen[lease.LeaseKey] = (lease.Counter, now);
                        continue;
                    }

                    if (Time.GetElapsedTime(seen.Since, now) < _options.Leases.FailoverTime)
                    {
                        continue;
                    }

                    expired = lease.Counter;
                }

                if (await _formerLeases.DeleteIfUnownedAsync(lease.LeaseKey, expired, cancellationToken).ConfigureAwait(false))
                {
                    deleted++;
                    _ownedSeen.Remove(lease.LeaseKey);
                }
            }

            if (deleted > 0)
            {
                KinesisLog.FormerStreamLeasesDeleted(Logger, streamId, deleted, leases.Count - deleted);
            }
        }
    }
}

internal static partial class KinesisLog
{
    [LoggerMessage(220, LogLevel.Information, "Kinesis {Stream} ({StreamId}): added; its shards are read from now on.")]
    public static partial void StreamAdded(ILogger logger, string stream, string streamId);

    [LoggerMessage(221, LogLevel.Information, "Kinesis {Stream} ({StreamId}): dropped; its shards stop being read once their records are finished, and its leases are deleted after {Delay}.")]
    public static partial void StreamDropped(ILogger logger, string stream, string streamId, TimeSpan delay);

    [LoggerMessage(222, LogLevel.Warning, "Kinesis {Stream}: the stream was not found; it is not read.")]
    public static partial void StreamNotFound(ILogger logger, string stream);

    [LoggerMessage(223, LogLevel.Warning, "Kinesis: finding the streams to read failed; the streams stay as they are until the next discovery.")]
    public static partial void DiscoveryFailed(ILogger logger, Exception exception);

    [LoggerMessage(224, LogLevel.Warning, "Kinesis {Stream}: describing or listing the stream failed; tried again at the next discovery or shard sync.")]
    public static partial void StreamListingFailed(ILogger logger, Exception exception, string stream);

    [LoggerMessage(225, LogLevel.Information, "Kinesis {Stream}/{Shard}: the dropped stream's shard is finished, checkpointed and released.")]
    public static partial void ShardRetired(ILogger logger, string stream, string shard);

    [LoggerMessage(226, LogLevel.Warning, "Kinesis {Stream}/{Shard}: finishing the dropped stream's shard failed; it is finished at the next stop.")]
    public static partial void RetireFailed(ILogger logger, Exception exception, string stream, string shard);

    [LoggerMessage(229, LogLevel.Warning, "Kinesis: the stream discovery returned {Count} blank or repeated streams; they are ignored.")]
    public static partial void DiscoveredStreamsIgnored(ILogger logger, int count);

    [LoggerMessage(228, LogLevel.Information, "Lease table: the leases of the dropped stream {StreamId} are kept past their deletion delay while this worker finishes the stream's records.")]
    public static partial void FormerStreamLeasesKept(ILogger logger, string streamId);

    [LoggerMessage(227, LogLevel.Information, "Lease table: deleted {Deleted} leases of the dropped stream {StreamId} ({Left} still owned, tried again later).")]
    public static partial void FormerStreamLeasesDeleted(ILogger logger, string streamId, int deleted, int left);
}
