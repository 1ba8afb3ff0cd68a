using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using StreamLanes.Checkpointing;

namespace StreamLanes.DynamoDb;

/// <summary>
/// Shares a stream's shards among workers through the lease table, the way the Kinesis Client Library does, by
/// composing one part per verb: the <see cref="LeaseRenewer"/> renews held leases every third of the failover time (and
/// carries out graceful hand-offs), the <see cref="ShardSyncer"/> creates leases for new shards, parents first, and,
/// by protocol, either the <see cref="LeaderElector"/> and <see cref="LeaseAssigner"/> (one elected worker scans and
/// assigns; every worker announces itself and discovers its own leases through the owner index, see
/// <see cref="LeaseTaker.DiscoverRoundAsync"/>) or the <see cref="LeaseTaker"/>'s scan-and-take rounds on every worker
/// (the earlier protocol, kept for comparison). This type owns the held leases, the round loop and the lifecycle.
/// </summary>
internal sealed class LeaseCoordinator : IAsyncDisposable
{
    private readonly ILeaseTable _table;
    private readonly DynamoDbLeaseOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, HeldLease> _held = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly LeaseRenewer _renewer;
    private readonly LeaseTaker _taker;
    private readonly ShardSyncer _syncer;
    private readonly LeaderElector _elector;
    private readonly LeaseAssigner _assigner;
    private readonly TimeProvider _time;
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _loop;
    private int _disposed;

    /// <param name="table">The lease table.</param>
    /// <param name="options">The lease options (worker id, failover time, limits).</param>
    /// <param name="listShards">Lists the stream's shards for the shard sync.</param>
    /// <param name="initialCheckpoint">The checkpoint a new shard without parents starts with.</param>
    /// <param name="listener">Starts and stops shards as leases are gained and lost.</param>
    /// <param name="timeProvider">The clock of every round, delay and expiry.</param>
    /// <param name="logger">The lease log.</param>
    /// <param name="random">Orders the candidates of a take (default <see cref="Random.Shared"/>); a seeded one makes rounds repeatable.</param>
    public LeaseCoordinator(
        ILeaseTable table,
        DynamoDbLeaseOptions options,
        Func<CancellationToken, Task<IReadOnlyList<ShardDescriptor>>> listShards,
        string initialCheckpoint,
        ILeaseListener listener,
        TimeProvider timeProvider,
        ILogger logger,
        Random? random = null)
    {
        _table = table;
        _options = options;
        _time = timeProvider;
        _logger = logger;

        // Ordered by start time first, so that of two runs with one worker id the later one wins; the random part
        // tells apart runs started in the same tick.
        Incarnation = string.Create(CultureInfo.InvariantCulture, $"{timeProvider.GetUtcNow().UtcTicks:D19}-{Guid.NewGuid():N}");
        _renewer = new LeaseRenewer(table, _held, options.WorkerId, options.FailoverTime, listener, timeProvider, logger);
        _taker = new LeaseTaker(table, _held, options, Incarnation, listener, timeProvider, random ?? Random.Shared, logger, _stop.Token);
        _syncer = new ShardSyncer(table, listShards, initialCheckpoint, timeProvider, logger);
        _elector = new LeaderElector(table, options.WorkerId, Incarnation, options.FailoverTime, timeProvider, logger);
        _assigner = new LeaseAssigner(table, options, timeProvider, random ?? Random.Shared, logger);
    }

    /// <summary>Whether this worker assigns the leases now (leader protocol).</summary>
    public bool IsLeader => _elector.IsLeader;

    /// <summary>What this worker did as leader: leases assigned and hand-offs requested.</summary>
    public (int Assigned, int MovesRequested) LeaderActivity => (_assigner.Assigned, _assigner.MovesRequested);

    private bool UsesLeader => _options.Protocol == LeaseProtocol.Leader;

    public string WorkerId => _options.WorkerId;

    /// <summary>This run of the worker, written with every lease it takes (<see cref="Lease.OwnerIncarnation"/>).</summary>
    public string Incarnation { get; }

    public TimeSpan RenewInterval => _renewer.RenewInterval;

    public IReadOnlyCollection<string> HeldShardIds => [.. _held.Keys];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await InitialRoundAsync(cancellationToken).ConfigureAwait(false);
        _loop = Task.Run(() => LoopAsync(_stop.Token), CancellationToken.None);
    }

    /// <summary>
    /// What a start does before the periodic rounds: the table (and, with a leader, its owner index) made ready, this
    /// worker announced, the leader elected, the shards synced by the leader (or, without one, by every worker), and a
    /// first take round. Public so that tests can start a worker without its periodic loop.
    /// </summary>
    public async Task InitialRoundAsync(CancellationToken cancellationToken)
    {
        await _table.EnsureExistsAsync(_options.CreateTableIfMissing, cancellationToken).ConfigureAwait(false);
        if (UsesLeader)
        {
            await _table.EnsureOwnerIndexAsync(cancellationToken).ConfigureAwait(false);
            await _table.HeartbeatAsync(WorkerId, Incarnation, cancellationToken).ConfigureAwait(false);
            if (await _elector.RoundAsync(cancellationToken).ConfigureAwait(false))
            {
                await SyncShardsAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            await SyncShardsAsync(cancellationToken).ConfigureAwait(false);
        }

        await TakeRoundAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops taking new leases (graceful stop has begun); held ones are still renewed.</summary>
    public void StopTaking() => _taker.Taking = false;

    /// <summary>Runs a take round now rather than at the next tick (a shard ended: its children may start).</summary>
    public void RequestTakeRound() => Volatile.Read(ref _wake).TrySetResult();

    /// <summary>
    /// One renew round (see <see cref="LeaseRenewer.RenewRoundAsync"/>); with the leader protocol also the heartbeat
    /// and the leader lock's renewal or election. Public so tests can drive rounds deterministically.
    /// </summary>
    public async Task RenewRoundAsync(CancellationToken cancellationToken)
    {
        // The lock beside the leases, not after them: neither write waits for the other, so that a leader renewing many
        // leases on a busy machine neither puts off its lock (the others would think it silent) nor its leases.
        bool announce = UsesLeader && _taker.Taking;
        Task election = announce ? _elector.RoundAsync(cancellationToken) : Task.CompletedTask;
        await _renewer.RenewRoundAsync(cancellationToken).ConfigureAwait(false);
        await election.ConfigureAwait(false);
        if (announce)
        {
            await _table.HeartbeatAsync(WorkerId, Incarnation, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// One take round: with the leader protocol, the leader's assignment round (when this worker leads) and then this
    /// worker's discovery of the leases assigned to it; else the taker's scan-and-take round (see
    /// <see cref="LeaseTaker.TakeRoundAsync"/>). Public so tests can drive rounds deterministically.
    /// </summary>
    public async Task TakeRoundAsync(CancellationToken cancellationToken)
    {
        if (!UsesLeader)
        {
            await _taker.TakeRoundAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        if (_elector.IsLeader && _taker.Taking)
        {
            await _assigner.AssignRoundAsync(cancellationToken).ConfigureAwait(false);
        }
        else if (_taker.Taking && (!_assigner.HasObserved || _elector.LeaderSilent))
        {
            await _assigner.ObserveAsync(cancellationToken).ConfigureAwait(false);
        }

        await _taker.DiscoverRoundAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Creates the leases of new shards, parents first (see <see cref="ShardSyncer.SyncShardsAsync"/>).</summary>
    public Task SyncShardsAsync(CancellationToken cancellationToken) => _syncer.SyncShardsAsync(cancellationToken);

    /// <summary>Creates the leases of an ended shard's children (see <see cref="ShardSyncer.CreateChildLeasesAsync"/>).</summary>
    public Task CreateChildLeasesAsync(string parentShardId, IReadOnlyList<ShardDescriptor> children, CancellationToken cancellationToken)
        => _syncer.CreateChildLeasesAsync(parentShardId, children, cancellationToken);

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
            await _renewer.ReleaseAsync(lease, cancellationToken).ConfigureAwait(false);
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
        _taker.Taking = false;
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        await _renewer.WhenHandoffsEndAsync().ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await Task.WhenAll(_held.Values.Select(lease => _renewer.ReleaseAsync(lease, cancellationToken))).ConfigureAwait(false);
        _held.Clear();
        if (UsesLeader)
        {
            // Whatever else names this worker goes back too, and the leader's next round (another worker's, once the
            // lock is released) no longer counts it.
            try
            {
                await _taker.ReleaseUntakenAsync(cancellationToken).ConfigureAwait(false);
                await _table.RemoveHeartbeatAsync(WorkerId, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LeaseLog.RoundFailed(_logger, ex, WorkerId, _table.TableName);
            }

            await _elector.ReleaseAsync(cancellationToken).ConfigureAwait(false);
        }
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

        await _taker.WhenDelayedStartsEndAsync().ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _renewer.WhenHandoffsEndAsync().ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
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

                    if (_taker.Taking)
                    {
                        // With a leader, only the leader lists the shards: one listing per interval for the fleet.
                        if ((!UsesLeader || _elector.IsLeader) && _time.GetElapsedTime(_syncer.LastSyncTimestamp) >= _options.ShardSyncInterval)
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
}
