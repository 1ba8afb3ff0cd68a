using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using StreamLanes.Checkpointing;

namespace StreamLanes.IntegrationTests.Leases;

/// <summary>
/// Workers sharing one in-memory lease table on one driven clock. Rounds are run explicitly (never through the
/// coordinator's periodic loop, because <see cref="FakeTimeProvider.Advance"/> would fire all of a period's ticks at
/// the final time); each worker's candidates are ordered by its own seeded randomizer, so every run is the same.
/// </summary>
internal sealed class LeaseWorld : IAsyncDisposable
{
    public static readonly TimeSpan Failover = TimeSpan.FromSeconds(9);

    private readonly List<LeaseCoordinator> _coordinators = [];

    public LeaseWorld(params ShardDescriptor[] shards) => Shards = [.. shards];

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));

    public RecordingLeaseTable Table { get; } = new(new InMemoryLeaseTable("leases"));

    public List<ShardDescriptor> Shards { get; }

    public static TimeSpan RenewInterval => Failover / 3;

    /// <summary>How many workers were created in this world.</summary>
    public int WorkerCount => _coordinators.Count;

    public static ShardDescriptor Shard(string id, params string[] parents) => new(id, parents);

    public (LeaseCoordinator Coordinator, ClockedLeaseListener Listener) Worker(string workerId, int seed, int maxStealAtOnce = 1, LeaseProtocol protocol = LeaseProtocol.EveryWorkerTakes)
    {
        var listener = new ClockedLeaseListener(Time);
        var coordinator = new LeaseCoordinator(
            Table,
            new DynamoDbLeaseOptions { TableName = Table.TableName, WorkerId = workerId, FailoverTime = Failover, MaxLeasesToStealAtOneTime = maxStealAtOnce, Protocol = protocol },
            _ => Task.FromResult<IReadOnlyList<ShardDescriptor>>([.. Shards]),
            Lease.TrimHorizon,
            listener,
            Time,
            NullLogger.Instance,
            new Random(seed));
        _coordinators.Add(coordinator);
        return (coordinator, listener);
    }

    /// <summary>Who owns what in the table now (owner → lease keys; unowned under "").</summary>
    public async Task<Dictionary<string, List<string>>> OwnersAsync()
        => (await Table.Inner.ListAsync(default)).GroupBy(lease => lease.Owner ?? "")
            .ToDictionary(group => group.Key, group => group.Select(lease => lease.LeaseKey).Order(StringComparer.Ordinal).ToList());

    public async ValueTask DisposeAsync()
    {
        foreach (LeaseCoordinator coordinator in _coordinators)
        {
            await coordinator.DisposeAsync();
        }
    }
}

/// <summary>Records, on the driven clock, which leases a coordinator hands to its source and takes back.</summary>
internal sealed class ClockedLeaseListener(TimeProvider time) : ILeaseListener
{
    private readonly Lock _lock = new();
    private readonly List<(string Shard, DateTimeOffset At)> _acquired = [];
    private readonly List<(string Shard, DateTimeOffset At)> _lost = [];
    private readonly List<(string Shard, DateTimeOffset At)> _handedOff = [];
    private readonly ConcurrentDictionary<string, HeldLease> _running = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, HeldLease> _last = new(StringComparer.Ordinal);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The shards this worker is processing now (acquired and not lost).</summary>
    public IReadOnlyCollection<string> Running => [.. _running.Keys.Order(StringComparer.Ordinal)];

    public IReadOnlyList<(string Shard, DateTimeOffset At)> Acquired
    {
        get
        {
            lock (_lock)
            {
                return [.. _acquired];
            }
        }
    }

    public IReadOnlyList<(string Shard, DateTimeOffset At)> Lost
    {
        get
        {
            lock (_lock)
            {
                return [.. _lost];
            }
        }
    }

    /// <summary>The shards this worker stopped for a graceful hand-off, and when.</summary>
    public IReadOnlyList<(string Shard, DateTimeOffset At)> HandedOff
    {
        get
        {
            lock (_lock)
            {
                return [.. _handedOff];
            }
        }
    }

    /// <summary>What the shard's processor checkpoints when it stops for a hand-off (as a source saves what it finished); none when null.</summary>
    public Func<string, SequenceNumber?> FinishedAtHandoff { get; set; } = _ => null;

    public HeldLease RunningLease(string shard) => _running[shard];

    /// <summary>The lease this worker last started the shard with (running or not).</summary>
    public HeldLease LastLease(string shard) => _last[shard];

    /// <summary>The shard's reader reached its end and stopped (as a source's reader does after <c>SHARD_END</c>).</summary>
    public void Finish(string shard) => _running.TryRemove(shard, out _);

    public Task OnLeaseAcquiredAsync(HeldLease lease, CancellationToken cancellationToken)
    {
        Record(_acquired, lease.ShardId);
        _running[lease.ShardId] = lease;
        _last[lease.ShardId] = lease;
        Signal();
        return Task.CompletedTask;
    }

    public async Task OnLeaseHandoffAsync(HeldLease lease, CancellationToken cancellationToken)
    {
        if (FinishedAtHandoff(lease.ShardId) is SequenceNumber finished)
        {
            await lease.SaveAsync(finished, cancellationToken);
        }

        Record(_handedOff, lease.ShardId);
        _running.TryRemove(lease.ShardId, out _);
        Signal();
    }

    public Task OnLeaseLostAsync(HeldLease lease)
    {
        Record(_lost, lease.ShardId);
        _running.TryRemove(lease.ShardId, out _);
        Signal();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Waits until <paramref name="condition"/> holds; a delayed start's continuation may run just after the
    /// <see cref="FakeTimeProvider.Advance"/> that fired it. The real-time bound only catches a hang.
    /// </summary>
    public async Task WaitUntilAsync(Func<ClockedLeaseListener, bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            Task changed = Volatile.Read(ref _changed).Task;
            if (condition(this))
            {
                return;
            }

            await changed.WaitAsync(timeout.Token);
        }
    }

    private void Record(List<(string Shard, DateTimeOffset At)> list, string shard)
    {
        lock (_lock)
        {
            list.Add((shard, time.GetUtcNow()));
        }
    }

    private void Signal() => Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
}

/// <summary>An <see cref="ILeaseTable"/> that records the order in which leases were created.</summary>
internal sealed class RecordingLeaseTable(ILeaseTable inner) : ILeaseTable
{
    public ConcurrentQueue<string> Created { get; } = new();

    /// <summary>The table itself, for a test's own reads (not counted).</summary>
    public ILeaseTable Inner => inner;

    public string TableName => inner.TableName;

    public Task EnsureExistsAsync(bool create, CancellationToken cancellationToken) => inner.EnsureExistsAsync(create, cancellationToken);

    /// <summary>Consistent full listings so far (every worker's take round in the protocol where every worker takes).</summary>
    public int ConsistentListings => _listings;

    private int _listings;

    public Task<IReadOnlyList<Lease>> ListAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _listings);
        return inner.ListAsync(cancellationToken);
    }

    public Task<Lease?> GetAsync(string leaseKey, CancellationToken cancellationToken) => inner.GetAsync(leaseKey, cancellationToken);

    public async Task<bool> CreateIfAbsentAsync(Lease lease, CancellationToken cancellationToken)
    {
        bool created = await inner.CreateIfAbsentAsync(lease, cancellationToken);
        if (created)
        {
            Created.Enqueue(lease.LeaseKey);
        }

        return created;
    }

    public Task<Lease> RenewAsync(Lease held, CancellationToken cancellationToken) => inner.RenewAsync(held, cancellationToken);

    public Task<Lease> TakeAsync(Lease seen, string newOwner, string incarnation, CancellationToken cancellationToken) => inner.TakeAsync(seen, newOwner, incarnation, cancellationToken);

    public Task<Lease> CheckpointAsync(Lease held, SequenceNumber position, IReadOnlyList<string>? childShardIds, byte[]? keyState, CancellationToken cancellationToken)
        => inner.CheckpointAsync(held, position, childShardIds, keyState, cancellationToken);

    public Task<Lease> ReleaseAsync(Lease held, CancellationToken cancellationToken) => inner.ReleaseAsync(held, cancellationToken);

    /// <summary>Scans so far (leader rounds).</summary>
    public int Scans => _scans;

    private int _scans;

    public Task EnsureOwnerIndexAsync(CancellationToken cancellationToken) => inner.EnsureOwnerIndexAsync(cancellationToken);

    public Task<LeaseTableSnapshot> ScanAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _scans);
        return inner.ScanAsync(cancellationToken);
    }

    public Task<IReadOnlyList<string>> ListOwnedKeysAsync(string owner, CancellationToken cancellationToken) => inner.ListOwnedKeysAsync(owner, cancellationToken);

    public Task<Lease> RequestHandoffAsync(Lease seen, string to, CancellationToken cancellationToken) => inner.RequestHandoffAsync(seen, to, cancellationToken);

    public Task<Lease> HandOverAsync(Lease held, string to, CancellationToken cancellationToken) => inner.HandOverAsync(held, to, cancellationToken);

    public Task HeartbeatAsync(string workerId, string incarnation, CancellationToken cancellationToken) => inner.HeartbeatAsync(workerId, incarnation, cancellationToken);

    public Task RemoveHeartbeatAsync(string workerId, CancellationToken cancellationToken) => inner.RemoveHeartbeatAsync(workerId, cancellationToken);

    public Task<LeaderLock?> GetLeaderAsync(CancellationToken cancellationToken) => inner.GetLeaderAsync(cancellationToken);

    public Task<LeaderLock> AcquireLeaderAsync(LeaderLock? seen, string owner, string incarnation, CancellationToken cancellationToken) => inner.AcquireLeaderAsync(seen, owner, incarnation, cancellationToken);

    public Task<LeaderLock> RenewLeaderAsync(LeaderLock held, CancellationToken cancellationToken) => inner.RenewLeaderAsync(held, cancellationToken);

    public Task ReleaseLeaderAsync(LeaderLock held, CancellationToken cancellationToken) => inner.ReleaseLeaderAsync(held, cancellationToken);
}
