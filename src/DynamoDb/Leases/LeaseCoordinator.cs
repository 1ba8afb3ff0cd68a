using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using StreamLanes.Checkpointing;

namespace StreamLanes.DynamoDb;

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
/// A lease that still names this worker's id but was taken by an earlier run of it (a restart with a stable id) is
/// taken back at once, which fences that run, and read after one failover time (see <see cref="TakeRoundAsync"/>).
/// </remarks>
internal sealed partial class LeaseCoordinator : IAsyncDisposable
{
    private readonly ILeaseTable _table;
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
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _loop;
    private volatile bool _taking = true;
    private long _lastShardSync;
    private int _disposed;

    public LeaseCoordinator(
        ILeaseTable table,
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

        // Ordered by start time first, so that of two runs with one worker id the later one wins; the random part
        // tells apart runs started in the same tick.
        Incarnation = string.Create(CultureInfo.InvariantCulture, $"{timeProvider.GetUtcNow().UtcTicks:D19}-{Guid.NewGuid():N}");
    }

    public string WorkerId => _options.WorkerId;

    /// <summary>This run of the worker, written with every lease it takes (<see cref="Lease.OwnerIncarnation"/>).</summary>
    public string Incarnation { get; }

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

    /// <summary>Runs a take round now rather than at the next tick (a shard ended: its children may start).</summary>
    public void RequestTakeRound() => Volatile.Read(ref _wake).TrySetResult();

    /// <summary>
    /// After a shard's <c>SHARD_END</c> checkpoint: gives the lease up (it ends with no owner), creates the leases of
    /// children the source could not name by listing the shards, and runs a take round at once so that the children
    /// start within moments. Failures are logged, never thrown: the periodic rounds repair what is left.
    /// </summary>
    /// <param name="lease">The ended shard's lease.</param>
    /// <param name="childrenKnown">Whether the children's leases were already created from the last read.</param>
    /// <param name="cancellationToken">Bounds the release and the listing.</param>
    public async Task FinishShardAsync(HeldLease lease, bool childrenKnown, CancellationToken cancellationToken)
    {
        if (_held.TryRemove(new KeyValuePair<string, HeldLease>(lease.ShardId, lease)))
        {
            await ReleaseAsync(lease, cancellationToken).ConfigureAwait(false);
        }

        if (!childrenKnown)
        {
            try
            {
                await SyncShardsAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                if (!cancellationToken.IsCancellationRequested && !_stop.IsCancellationRequested)
                {
                    LeaseLog.RoundFailed(_logger, ex, WorkerId, _table.TableName);
                }
            }
        }

        RequestTakeRound();
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

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        // Takes run twice per renew interval, so an expired lease is taken within failover + one renew interval; a
        // shard's end wakes the loop for an extra take round.
        using var timer = new PeriodicTimer(RenewInterval / 2, _time);
        long tick = 0;
        Task<bool>? nextTick = null;
        try
        {
            while (true)
            {
                nextTick ??= timer.WaitForNextTickAsync(cancellationToken).AsTask();
                TaskCompletionSource wake = Volatile.Read(ref _wake);
                Task first = await Task.WhenAny(nextTick, wake.Task).ConfigureAwait(false);
                bool ticked = first == nextTick;
                if (ticked)
                {
                    if (!await nextTick.ConfigureAwait(false))
                    {
                        return;
                    }

                    nextTick = null;
                }
                else
                {
                    Interlocked.CompareExchange(ref _wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), wake);
                }

                try
                {
                    if (ticked && ++tick % 2 == 0)
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
        catch (CheckpointFencedException)
        {
            // Stolen or taken over since this worker's last renewal: nothing left to give up.
            LeaseLog.ReleaseNotNeeded(_logger, WorkerId, lease.ShardId);
        }
        catch (Exception ex)
        {
            LeaseLog.ReleaseFailed(_logger, ex, WorkerId, lease.ShardId);
        }
    }
}
