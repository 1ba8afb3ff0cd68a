using System.Collections.Concurrent;
using Amazon.DynamoDBv2;
using Microsoft.Extensions.Logging;
using StreamLanes.Checkpointing;

namespace StreamLanes.DynamoDb;

/// <summary>
/// What the Kinesis and DynamoDB Streams sources share: shards taken through the DynamoDB lease table, one reader
/// per held lease, a shard abandoned at once when its lease is lost, <c>SHARD_END</c> handed over to the children,
/// and the stop sequence (stop reading, keep renewing while the engine drains, release). Subclasses read a shard.
/// </summary>
internal abstract class LeasedShardSource : IStreamSource, ILeasedSource, ILeaseListener, IAsyncDisposable
{
    private readonly IAmazonDynamoDB _dynamoDb;
    private readonly DynamoDbLeaseOptions _leases;
    private readonly CancellationTokenSource _stopReading = new();

    // Cancelled only when the source is disposed: bounds the steps after a shard's end, which must still run while
    // the shard's own token (cancelled by its SHARD_END completion) or a graceful stop is under way.
    private readonly CancellationTokenSource _disposing = new();
    private readonly ConcurrentDictionary<string, ShardReader> _readers = new(StringComparer.Ordinal);

    // The reader whose flow is running: the shared read helpers below learn the shard from it, so that the subclasses'
    // read loops report faults and recoveries without passing the shard to each helper.
    private static readonly AsyncLocal<ShardReader?> CurrentReader = new();
    private LeaseCoordinator? _coordinator;
    private DynamoDbLeaseTable? _table;
    private ISourceHost? _host;

    protected LeasedShardSource(IAmazonDynamoDB dynamoDb, DynamoDbLeaseOptions leases, TimeProvider timeProvider, ILogger logger)
    {
        _dynamoDb = dynamoDb;
        _leases = leases;
        Time = timeProvider;
        Logger = logger;
    }

    public abstract SourceKind Kind { get; }

    public abstract string StreamName { get; }

    /// <summary>Checkpoints live in the lease table, fenced by the lease.</summary>
    public bool UsesConsumerCheckpointStore => false;

    /// <summary>The shards this worker reads now.</summary>
    public IReadOnlyCollection<string> OwnedShards => [.. _readers.Keys];

    /// <inheritdoc />
    public string? WorkerId => _coordinator?.WorkerId;

    internal LeaseCoordinator Coordinator => _coordinator ?? throw new InvalidOperationException("The source has not started.");

    protected TimeProvider Time { get; }

    protected ILogger Logger { get; }

    protected IAmazonDynamoDB DynamoDb => _dynamoDb;

    /// <summary>Whether the lease table's client was built for this source (disposed with it) rather than taken from DI (never disposed here).</summary>
    internal bool OwnsDynamoDb { get; init; } = true;

    protected ISourceHost Host => _host ?? throw new InvalidOperationException("The source has not started.");

    /// <summary>The checkpoint a new shard's lease starts with: <see cref="Lease.TrimHorizon"/>, <see cref="Lease.Latest"/> or <see cref="Lease.AtTimestamp"/>.</summary>
    protected abstract string InitialCheckpoint { get; }

    public async Task StartAsync(ISourceHost host, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        _host = host;
        await PrepareAsync(cancellationToken).ConfigureAwait(false);
        _table = new DynamoDbLeaseTable(_dynamoDb, _leases.TableName, IsLeaseIncluded);
        _coordinator = new LeaseCoordinator(
            _table,
            _leases,
            ListShardsAsync,
            InitialCheckpoint,
            this,
            Time,
            Logger);
        await _coordinator.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task StopReadingAsync(CancellationToken cancellationToken)
    {
        OnStoppingReading();
        _coordinator?.StopTaking();
        await _stopReading.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_readers.Values.Select(reader => reader.Completion)).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task ReleaseAsync(CancellationToken cancellationToken)
    {
        if (_coordinator is not null)
        {
            await _coordinator.ReleaseAllAsync(cancellationToken).ConfigureAwait(false);
        }

        await AfterReleaseAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        OnStoppingReading();
        await _stopReading.CancelAsync().ConfigureAwait(false);
        await _disposing.CancelAsync().ConfigureAwait(false);
        if (_coordinator is not null)
        {
            await _coordinator.DisposeAsync().ConfigureAwait(false);
        }

        await Task.WhenAll(_readers.Values.Select(reader => reader.Completion)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stopReading.Dispose();
        _disposing.Dispose();
        DisposeClients();
        if (OwnsDynamoDb)
        {
            _dynamoDb.Dispose();
        }

        GC.SuppressFinalize(this);
    }

    async Task ILeaseListener.OnLeaseAcquiredAsync(HeldLease lease, CancellationToken cancellationToken)
    {
        if (!IsLeaseIncluded(lease.ShardId))
        {
            // A stream this source no longer reads (taken from a listing made before it was dropped): give it back.
            await Coordinator.FinishShardAsync(lease, childrenKnown: true, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (lease.Current.IsShardEnd)
        {
            await Coordinator.FinishShardAsync(lease, childrenKnown: false, cancellationToken).ConfigureAwait(false);
            return;
        }

        // A lease lost and taken back quickly: the previous reader of the shard must be gone first. It was abandoned
        // when the lease was lost (or stopped at a hand-off): waiting for that, rather than abandoning it again, keeps
        // a second "abandoned (lease lost)" warning out of the log for a loss already reported.
        if (_readers.TryGetValue(lease.ShardId, out ShardReader? previous))
        {
            await (previous.Stopped ?? previous.Processor.AbandonAsync()).ConfigureAwait(false);
            await previous.Completion.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        await InheritParkedKeysAsync(lease, cancellationToken).ConfigureAwait(false);
        IShardProcessor processor = Host.OpenShard(lease.ShardId, lease, lease.Current.Position);
        var reader = new ShardReader(lease, processor);
        _readers[lease.ShardId] = reader;
        reader.Completion = Task.Run(() => RunReaderAsync(reader), CancellationToken.None);
    }

    async Task ILeaseListener.OnLeaseLostAsync(HeldLease lease)
    {
        if (_readers.TryGetValue(lease.ShardId, out ShardReader? reader) && reader.Lease == lease)
        {
            Task stopped;
            lock (reader)
            {
                stopped = reader.Stopped ??= reader.Processor.AbandonAsync();
            }

            await stopped.ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A child shard starting for the first time (no checkpoint, no key state of its own yet) takes over the parked keys
    /// of its parents that can appear in it, from the key states they saved with <c>SHARD_END</c>: a key parked before
    /// a split or merge stays parked in the child, wherever the child's lease is taken.
    /// </summary>
    private async Task InheritParkedKeysAsync(HeldLease lease, CancellationToken cancellationToken)
    {
        Lease child = lease.Current;
        if (child.ParentShardIds.Count == 0 || child.KeyState is not null || !child.Position.IsNone)
        {
            return;
        }

        DynamoDbLeaseTable table = _table!; // set at start, before any lease is acquired
        // The child must not start without its parents' parked keys; an unreadable table heals by retrying.
        Polly.ResiliencePipeline retry = ResiliencePipelines.UntilSuccess(
            $"StreamLanes.{Kind}.ParentKeyStateRead", BackoffOptions.Of(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5)), Time);
        var parents = new List<ShardKeyState>();
        foreach (string parentId in child.ParentShardIds)
        {
            Lease? parent = await retry.ExecuteAsync(
                static (state, token) => new ValueTask<Lease?>(state.table.GetAsync(state.parentId, token)),
                (table, parentId),
                (ex, _, _) => Host.ReportReaderFault(child.LeaseKey, ex, fatal: false),
                cancellationToken).ConfigureAwait(false);
            if (parent is { KeyState: { Length: > 0 } bytes })
            {
                try
                {
                    parents.Add(ShardKeyStateCodec.Decode(bytes));
                }
                catch (InvalidDataException ex)
                {
                    var broken = new InvalidDataException($"The key state of lease '{parentId}' in table '{_leases.TableName}' (attribute {LeaseItem.KeyState}), parent of '{child.LeaseKey}', is not valid: {ex.Message}", ex);
                    Host.ReportReaderFault(child.LeaseKey, broken, fatal: true);
                    throw broken;
                }
            }
        }

        lease.InheritedParkedKeys = ParkedKeyInheritance.Select(parents, child.StartingHashKey, child.EndingHashKey);
    }

    async Task ILeaseListener.OnLeaseHandoffAsync(HeldLease lease, CancellationToken cancellationToken)
    {
        if (!_readers.TryGetValue(lease.ShardId, out ShardReader? reader) || reader.Lease != lease)
        {
            return; // not started yet (a delayed start) or already ended: nothing read to checkpoint
        }

        Task stopped;
        lock (reader)
        {
            stopped = reader.Stopped ??= LeaseHandoff.StopShardAsync(reader, _leases.FailoverTime / 3, Time, cancellationToken);
        }

        await stopped.ConfigureAwait(false);
        _readers.TryRemove(new KeyValuePair<string, ShardReader>(lease.ShardId, reader));
    }

    /// <summary>Checks the stream exists and is reachable, failing with a message that names what is wrong.</summary>
    protected abstract Task PrepareAsync(CancellationToken cancellationToken);

    /// <summary>The stream's shards with their parents.</summary>
    protected abstract Task<IReadOnlyList<ShardDescriptor>> ListShardsAsync(CancellationToken cancellationToken);

    /// <summary>Reads a shard until <paramref name="cancellationToken"/> (stop, or the lease lost) or its end (<see cref="EndShardAsync"/>).</summary>
    protected abstract Task ReadShardAsync(ShardReader reader, CancellationToken cancellationToken);

    /// <summary>Disposes the subclass's own clients.</summary>
    protected abstract void DisposeClients();

    /// <summary>
    /// At <c>SHARD_END</c>: creates the children's leases (from <paramref name="children"/>, the last read's
    /// <c>ChildShards</c>, when the service names them), waits for the shard's records, checkpoints <c>SHARD_END</c>
    /// (with the children's ids), gives the lease up and wakes the take loop, so that the children start within
    /// moments instead of at the next periodic shard sync.
    /// </summary>
    /// <param name="reader">The ended shard's reader.</param>
    /// <param name="children">The shards continuing this one, or empty when the read did not say (the shards are then listed).</param>
    /// <param name="cancellationToken">The reader's token: stop, or the lease lost.</param>
    protected async Task EndShardAsync(ShardReader reader, IReadOnlyList<ShardDescriptor> children, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(children);
        if (children.Count > 0)
        {
            // Before the SHARD_END checkpoint, so they exist the moment it does; they wait for it to be taken.
            reader.Lease.SetChildShards([.. children.Select(child => child.ShardId)]);
            await Coordinator.CreateChildLeasesAsync(reader.Lease.ShardId, children, cancellationToken).ConfigureAwait(false);
        }

        await reader.Processor.CompleteAsync(cancellationToken).ConfigureAwait(false);

        // CompleteAsync closed the shard's processor and so cancelled cancellationToken (it is linked to the processor's
        // Stopping token): the release must not run on it, or it fails and leaves the lease owned. The stop sequence
        // waits for this reader, so the steps below are bounded instead.
        using var timeout = new CancellationTokenSource(_leases.FailoverTime, Time);
        using var finishing = CancellationTokenSource.CreateLinkedTokenSource(_disposing.Token, timeout.Token);
        await Coordinator.FinishShardAsync(reader.Lease, childrenKnown: children.Count > 0, finishing.Token).ConfigureAwait(false);
        _readers.TryRemove(new KeyValuePair<string, ShardReader>(reader.Lease.ShardId, reader));
    }

    /// <summary>Whether the lease belongs to what this source reads (default: every lease); others are neither listed nor read.</summary>
    protected virtual bool IsLeaseIncluded(string leaseKey) => true;

    /// <summary>Called once a stop (or disposal) begins, before the readers are stopped: ends the source's own background work.</summary>
    protected virtual void OnStoppingReading()
    {
    }

    /// <summary>The shards being read now.</summary>
    protected IReadOnlyCollection<ShardReader> Readers => [.. _readers.Values];

    /// <summary>
    /// Stops reading one shard for good while the rest go on (its stream was dropped): stops its reader, waits until
    /// every record it read is complete (handled or dead-lettered), saves that checkpoint, closes the shard and gives
    /// the lease up. Nothing read is left in flight when this returns; a lease lost meanwhile ends the wait.
    /// </summary>
    protected async Task RetireShardAsync(ShardReader reader, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        reader.Retired = true;
        CancelQuietly(reader.Stop);
        await reader.Completion.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        using (var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, reader.Processor.Stopping))
        {
            try
            {
                if (reader.Processor is ShardProcessor shard)
                {
                    await shard.WaitDrainedAsync(waiting.Token).ConfigureAwait(false);
                    await shard.CheckpointAsync(waiting.Token).ConfigureAwait(false);
                }
                else
                {
                    // Another host (a test's): no drained signal to wait on, only the count.
                    while (reader.Processor.BufferedCount > 0)
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(50), Time, waiting.Token).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (reader.Processor.Stopping.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                // Abandoned (the lease was lost) or the consumer is stopping: the shard is closed already.
            }
        }

        if (reader.Processor is not ShardProcessor { IsClosed: true })
        {
            await reader.Processor.AbandonAsync().ConfigureAwait(false);
        }

        // Forgotten before the release: a take right after it (the stream added back) must not find this reader.
        _readers.TryRemove(new KeyValuePair<string, ShardReader>(reader.Lease.ShardId, reader));
        await Coordinator.FinishShardAsync(reader.Lease, childrenKnown: true, cancellationToken).ConfigureAwait(false);
    }

    private static void CancelQuietly(CancellationTokenSource? source)
    {
        try
        {
            source?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The reader had exited already.
        }
    }

    /// <summary>After a graceful stop released the leases: anything else the source gives up (e.g. a fan-out consumer).</summary>
    protected virtual Task AfterReleaseAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>For readers that are pushed records rather than pacing reads: a read succeeded, so a reported fault is over.</summary>
    protected void MarkReadSucceeded()
    {
        if (CurrentReader.Value is ShardReader reader)
        {
            Interlocked.Exchange(ref reader.FailedSinceLastRead, 0);
            Host.ReportReaderRecovered(reader.Lease.ShardId);
        }
    }

    /// <summary>Waits until <paramref name="minTimeBetweenReads"/> has passed since the read at <paramref name="lastRead"/> (0: none yet).</summary>
    protected async Task PaceReadAsync(long lastRead, TimeSpan minTimeBetweenReads, CancellationToken cancellationToken)
    {
        // A read starting with no failure since the previous one means the previous read succeeded.
        if (CurrentReader.Value is ShardReader reader && Interlocked.Exchange(ref reader.FailedSinceLastRead, 0) == 0)
        {
            Host.ReportReaderRecovered(reader.Lease.ShardId);
        }

        TimeSpan sinceLastRead = Time.GetElapsedTime(lastRead);
        if (lastRead != 0 && sinceLastRead < minTimeBetweenReads)
        {
            await Task.Delay(minTimeBetweenReads - sinceLastRead, Time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The pipeline a reader retries its failed reads through (until one succeeds or the reader stops), waiting
    /// <paramref name="backoff"/>, jittered so that shards failing together do not retry together. Failures for which
    /// <paramref name="shouldRetry"/> is false propagate to the reader instead.
    /// </summary>
    protected Polly.ResiliencePipeline CreateReadRetry(BackoffOptions backoff, Func<Exception, bool>? shouldRetry = null)
        => ResiliencePipelines.UntilSuccess($"StreamLanes.{Kind}.ReadRetry", backoff, Time, shouldRetry: shouldRetry);

    /// <summary>
    /// After a failed read, before its back-off: reports it as a transient reader fault (the consumer is unhealthy until
    /// a read succeeds; a missing stream or denied access included, since an operator may fix them while the reader retries).
    /// </summary>
    protected void ReportFailedRead(Exception failure)
    {
        if (CurrentReader.Value is ShardReader reader)
        {
            Interlocked.Exchange(ref reader.FailedSinceLastRead, 1);
            Host.ReportReaderFault(reader.Lease.ShardId, failure, fatal: false);
        }
    }

    private async Task RunReaderAsync(ShardReader reader)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(_stopReading.Token, reader.Processor.Stopping, reader.HandingOff.Token);
        reader.Stop = stop;
        if (reader.Retired)
        {
            await stop.CancelAsync().ConfigureAwait(false); // retired before it started
        }

        CurrentReader.Value = reader;
        try
        {
            await ReadShardAsync(reader, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // The read loops retry what can be retried; what escapes them leaves the shard unread while its lease is
            // renewed: reported as fatal (the consumer stops and releases its leases) instead of a silent stall.
            Host.ReportReaderFault(reader.Lease.ShardId, ex, fatal: true);
        }
    }

    /// <summary>One held shard being read.</summary>
    protected internal sealed class ShardReader(HeldLease lease, IShardProcessor processor)
    {
        public HeldLease Lease { get; } = lease;

        public IShardProcessor Processor { get; } = processor;

        public Task Completion { get; set; } = Task.CompletedTask;

        /// <summary>Cancelled when the lease is being handed over: the read loop stops, the records read are finished.</summary>
        public CancellationTokenSource HandingOff { get; } = new();

        /// <summary>The shard's stop (abandoned on a loss, or a hand-off), once one has begun; guarded by the reader's lock.</summary>
        public Task? Stopped { get; set; }

        /// <summary>1 when a read failed since the last read started (see PaceReadAsync).</summary>
        internal int FailedSinceLastRead;

        /// <summary>Stops this reader alone (see <see cref="RetireShardAsync"/>); set once it runs.</summary>
        internal volatile CancellationTokenSource? Stop;

        /// <summary>Set when the shard is being retired: a reader starting after it stops at once.</summary>
        internal volatile bool Retired;
    }
}
