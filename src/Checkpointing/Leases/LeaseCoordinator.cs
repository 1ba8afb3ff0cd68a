using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace StreamLanes.Checkpointing;

/// <summary>
/// Shares a stream's shards among workers through the lease table, the way the Kinesis Client Library does: renew
/// held leases every third of the failover time, take expired or unowned ones, steal one at a time from the most
/// loaded worker until the counts are even, create leases for new shards, and never take a child shard's lease
/// before all its parents reached <c>SHARD_END</c>.
/// </summary>
/// <remarks>
/// Expiry is judged by observation, not by comparing clocks: a lease whose counter has not changed for the failover
/// time, by this worker's clock, is expired. A worker that could not renew a lease for two thirds of the failover
/// time gives it up itself, so it has stopped before any other worker can take it. A stolen lease starts being
/// processed only after one renew interval, by when its previous owner's renewal has failed and it has stopped.
/// </remarks>
internal sealed class LeaseCoordinator : IAsyncDisposable
{
    private readonly DynamoDbLeaseTable _table;
    private readonly DynamoDbLeaseOptions _options;
    private readonly Func<CancellationToken, Task<IReadOnlyList<ShardDescriptor>>> _listShards;
    private readonly string _initialCheckpoint;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ILeaseListener _listener;
    private readonly ConcurrentDictionary<string, HeldLease> _held = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (long Counter, long Since)> _observed = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _delayedStarts = [];
    private Task? _loop;
    private volatile bool _taking = true;
    private long _lastShardSync;
    private int _disposed;

    public LeaseCoordinator(
        DynamoDbLeaseTable table,
        DynamoDbLeaseOptions options,
        Func<CancellationToken, Task<IReadOnlyList<ShardDescriptor>>> listShards,
        string initialCheckpoint,
        ILeaseListener listener,
        TimeProvider timeProvider,
        ILogger logger)
    {
        _table = table;
        _options = options;
        _listShards = listShards;
        _initialCheckpoint = initialCheckpoint;
        _listener = listener;
        _time = timeProvider;
        _logger = logger;
    }

    public string WorkerId => _options.WorkerId;

    public TimeSpan RenewInterval => _options.FailoverTime / 3;

    public IReadOnlyCollection<string> HeldShardIds => [.. _held.Keys];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _table.EnsureExistsAsync(_options.CreateTableIfMissing, cancellationToken).ConfigureAwait(false);
        await SyncShardsAsync(cancellationToken).ConfigureAwait(false);
        await TakeRoundAsync(cancellationToken).ConfigureAwait(false);
        _loop = Task.Run(() => LoopAsync(_stop.Token), CancellationToken.None);
    }

    /// <summary>Stops taking new leases (graceful stop has begun); held ones are still renewed.</summary>
    public void StopTaking() => _taking = false;

    /// <summary>After a shard's <c>SHARD_END</c> checkpoint: gives the lease up so its children may start.</summary>
    public async Task FinishShardAsync(HeldLease lease, CancellationToken cancellationToken)
    {
        if (_held.TryRemove(new KeyValuePair<string, HeldLease>(lease.ShardId, lease)))
        {
            await ReleaseAsync(lease, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Stops renewing and releases every held lease, so other workers take them over at once.</summary>
    public async Task ReleaseAllAsync(CancellationToken cancellationToken)
    {
        _taking = false;
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        await Task.WhenAll(_held.Values.Select(lease => ReleaseAsync(lease, cancellationToken))).ConfigureAwait(false);
        _held.Clear();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        Task[] starts;
        lock (_delayedStarts)
        {
            starts = [.. _delayedStarts];
        }

        await Task.WhenAll(starts).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    /// <summary>One renew-or-take step; public so tests can drive rounds deterministically.</summary>
    public async Task RenewRoundAsync(CancellationToken cancellationToken)
    {
        long now = _time.GetTimestamp();
        TimeSpan giveUpAfter = _options.FailoverTime - RenewInterval;
        await Task.WhenAll(_held.Values.Select(async lease =>
        {
            if (_time.GetElapsedTime(lease.LastRenewedTimestamp, now) > giveUpAfter)
            {
                await LoseAsync(lease, $"not renewed for {giveUpAfter}; giving it up before another worker can take it").ConfigureAwait(false);
                return;
            }

            try
            {
                await lease.RenewAsync(now, cancellationToken).ConfigureAwait(false);
            }
            catch (CheckpointFencedException)
            {
                await LoseAsync(lease, "another worker took it").ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // Transient (throttling, network): the next round retries, and the elapsed-time check above gives the
                // lease up if renewals keep failing.
                LeaseLog.RoundFailed(_logger, ex, WorkerId, _table.TableName);
            }
        })).ConfigureAwait(false);
    }

    public async Task TakeRoundAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<Lease> leases = await _table.ListAsync(cancellationToken).ConfigureAwait(false);
        long now = _time.GetTimestamp();
        var byKey = new Dictionary<string, Lease>(StringComparer.Ordinal);
        foreach (Lease lease in leases)
        {
            byKey[lease.LeaseKey] = lease;
            if (!_observed.TryGetValue(lease.LeaseKey, out (long Counter, long Since) seen) || seen.Counter != lease.Counter)
            {
                _observed[lease.LeaseKey] = (lease.Counter, now);
            }
        }

        bool Expired(Lease lease) => lease.Owner is null
            || (lease.Owner != WorkerId && _time.GetElapsedTime(_observed[lease.LeaseKey].Since, now) > _options.FailoverTime);

        // Parents first: a child shard's records come after its parents', so it waits for them to end.
        bool Eligible(Lease lease) => !lease.IsShardEnd
            && lease.ParentShardIds.All(parent => !byKey.TryGetValue(parent, out Lease? p) || p.IsShardEnd);

        List<Lease> active = [.. leases.Where(Eligible)];
        var counts = active.Where(lease => lease.Owner is not null && lease.Owner != WorkerId && !Expired(lease))
            .GroupBy(lease => lease.Owner!)
            .ToDictionary(group => group.Key, group => group.ToList());
        int mine = _held.Count;
        int workers = counts.Count + 1;
        int target = Math.Min(_options.MaxLeasesPerWorker, (active.Count + workers - 1) / workers);
        if (!_taking || mine >= target)
        {
            return;
        }

        var toTake = active.Where(lease => !_held.ContainsKey(lease.LeaseKey) && Expired(lease))
            .OrderBy(_ => Random.Shared.Next())
            .Take(target - mine)
            .Select(lease => (Lease: lease, Stolen: false))
            .ToList();
        if (toTake.Count == 0 && _options.MaxLeasesToStealAtOneTime > 0 && counts.Count > 0)
        {
            KeyValuePair<string, List<Lease>> mostLoaded = counts.MaxBy(pair => pair.Value.Count);
            if (mostLoaded.Value.Count > target || mostLoaded.Value.Count > mine + 1)
            {
                toTake = [.. mostLoaded.Value.OrderBy(_ => Random.Shared.Next())
                    .Take(Math.Min(_options.MaxLeasesToStealAtOneTime, target - mine))
                    .Select(lease => (Lease: lease, Stolen: true))];
            }
        }

        foreach ((Lease lease, bool stolen) in toTake)
        {
            Lease taken;
            try
            {
                taken = await _table.TakeAsync(lease, WorkerId, cancellationToken).ConfigureAwait(false);
            }
            catch (LeaseLostException)
            {
                continue; // another worker was faster, or the owner renewed: look again next round
            }

            var held = new HeldLease(_table, taken, _time.GetTimestamp());
            _held[taken.LeaseKey] = held;
            _observed[taken.LeaseKey] = (taken.Counter, _time.GetTimestamp());
            LeaseLog.LeaseTaken(_logger, WorkerId, taken.LeaseKey, lease.Owner ?? "nobody", stolen ? "balancing" : lease.Owner is null ? "unowned" : "expired");
            if (stolen)
            {
                // The previous owner notices at its next renewal (within one renew interval) and stops the shard;
                // starting before that could run one key's records on two workers at once.
                Task start = StartLaterAsync(held, RenewInterval + (RenewInterval / 5), _stop.Token);
                lock (_delayedStarts)
                {
                    _delayedStarts.RemoveAll(task => task.IsCompleted);
                    _delayedStarts.Add(start);
                }
            }
            else
            {
                await _listener.OnLeaseAcquiredAsync(held, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public async Task SyncShardsAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<ShardDescriptor> shards = await _listShards(cancellationToken).ConfigureAwait(false);
        IReadOnlyList<Lease> leases = await _table.ListAsync(cancellationToken).ConfigureAwait(false);
        var known = leases.Select(lease => lease.LeaseKey).ToHashSet(StringComparer.Ordinal);
        var created = new List<string>();
        foreach (ShardDescriptor shard in shards.Where(shard => !known.Contains(shard.ShardId)))
        {
            var lease = new Lease
            {
                LeaseKey = shard.ShardId,
                // A child shard holds the records that follow its parents': it is always read from its beginning.
                Checkpoint = shard.ParentShardIds.Count > 0 ? Lease.TrimHorizon : _initialCheckpoint,
                ParentShardIds = shard.ParentShardIds,
            };
            if (await _table.CreateIfAbsentAsync(lease, cancellationToken).ConfigureAwait(false))
            {
                created.Add(shard.ShardId);
            }
        }

        if (created.Count > 0)
        {
            LeaseLog.LeasesCreated(_logger, _table.TableName, string.Join(", ", created));
        }

        _lastShardSync = _time.GetTimestamp();
    }

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        // Takes run twice per renew interval, so an expired lease is taken within failover + one renew interval.
        using var timer = new PeriodicTimer(RenewInterval / 2, _time);
        long tick = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    if (++tick % 2 == 0)
                    {
                        await RenewRoundAsync(cancellationToken).ConfigureAwait(false);
                    }

                    if (_taking)
                    {
                        if (_time.GetElapsedTime(_lastShardSync) >= _options.ShardSyncInterval)
                        {
                            await SyncShardsAsync(cancellationToken).ConfigureAwait(false);
                        }

                        await TakeRoundAsync(cancellationToken).ConfigureAwait(false);
                    }
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    LeaseLog.RoundFailed(_logger, ex, WorkerId, _table.TableName);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task StartLaterAsync(HeldLease lease, TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            if (!lease.IsLost && _held.ContainsKey(lease.ShardId))
            {
                await _listener.OnLeaseAcquiredAsync(lease, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            LeaseLog.RoundFailed(_logger, ex, WorkerId, _table.TableName);
        }
    }

    private async Task LoseAsync(HeldLease lease, string reason)
    {
        if (_held.TryRemove(new KeyValuePair<string, HeldLease>(lease.ShardId, lease)))
        {
            lease.MarkLost();
            LeaseLog.LeaseLost(_logger, WorkerId, lease.ShardId, reason);
            await _listener.OnLeaseLostAsync(lease).ConfigureAwait(false);
        }
    }

    private async Task ReleaseAsync(HeldLease lease, CancellationToken cancellationToken)
    {
        try
        {
            await lease.ReleaseAsync(cancellationToken).ConfigureAwait(false);
            lease.MarkLost();
            LeaseLog.LeaseReleased(_logger, WorkerId, lease.ShardId);
        }
        catch (Exception ex)
        {
            LeaseLog.ReleaseFailed(_logger, ex, WorkerId, lease.ShardId);
        }
    }
}
