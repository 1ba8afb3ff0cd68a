using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Timeout;
using StreamLanes.Checkpointing;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>
/// One consumer's engine: the source host, the shards, the handling of each record (retry, dead letter, park),
/// the checkpoint loop, health and graceful stop.
/// </summary>
internal sealed partial class StreamConsumerRuntime : IStreamConsumer, ISourceHost, IAsyncDisposable
{
    private const int MaxPooledLanes = 4096;
    private const int WarmPooledLanes = 8;

    // The attempt's result type is object, not bool: the pipeline's retry strategy is a ResilienceStrategy<object>
    // (RetryStrategyOptions is RetryStrategyOptions<object>), and Polly bridges any other result type by boxing it into
    // an Outcome<object>, which cost one allocation per record. The value is never read: success is "no exception".
    private static readonly Func<ResilienceContext, KeyLane, ValueTask<Outcome<object?>>> AttemptCallback = AttemptAsync;

    private readonly StreamConsumerOptions _options;
    private readonly IStreamSource _source;
    private readonly ICheckpointStore _checkpointStore;
    private readonly IDeadLetterSink _sink;
    private readonly ResiliencePipeline _pipeline;
    private readonly NonRetryablePolicy _nonRetryable;
    private readonly CancellationTokenSource _hardStop = new();
    private readonly ConcurrentDictionary<string, ShardProcessor> _shards = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _parkedKeys = new(StringComparer.Ordinal);
    private readonly Stack<KeyLane> _lanePool = new();
    private readonly KeyValuePair<string, object?> _consumerTag;
    private readonly int _resumeShardBuffered;
    private readonly int _resumeTotalBuffered;
    private readonly Func<StreamRecord, string>? _laneKey;

    private int _buffered;
    private int _disposed;
    private int _blockedLanes;
    private long _received;
    private long _handled;
    private long _retried;
    private long _deadLettered;
    private int _consecutiveSinkFailures;
    private long _lastCheckpointTicks = -1;
    private long _closedShardsLag;
    private long _checkpointRounds;
    private Exception? _fault;
    private DateTimeOffset _startedAt;
    private volatile bool _running;
    private TaskCompletionSource? _capacityWaiter;
    private Task? _checkpointLoop;
    private CancellationTokenSource? _checkpointLoopStop;

    public StreamConsumerRuntime(
        string name,
        StreamConsumerOptions options,
        IHandlerInvoker invoker,
        IStreamSource source,
        ICheckpointStore checkpointStore,
        IDeadLetterSink sink,
        ResiliencePipeline pipeline,
        NonRetryablePolicy nonRetryable,
        TimeProvider timeProvider,
        ILogger logger,
        Func<StreamRecord, string>? laneKey = null)
    {
        _laneKey = laneKey;
        Name = name;
        _options = options;
        Invoker = invoker;
        _source = source;
        _checkpointStore = checkpointStore;
        _sink = sink;
        _pipeline = pipeline;
        _nonRetryable = nonRetryable;
        TimeProvider = timeProvider;
        Logger = logger;
        Gate = new SemaphoreSlim(options.MaxConcurrentHandlers, options.MaxConcurrentHandlers);
        _consumerTag = new KeyValuePair<string, object?>("consumer", name);

        // Readers blocked by backpressure resume once a quarter of the buffer is free, not at every completed
        // record, so a saturated consumer wakes its readers once per many records.
        _resumeShardBuffered = options.MaxBufferedRecordsPerShard - Math.Max(1, options.MaxBufferedRecordsPerShard / 4);
        _resumeTotalBuffered = options.MaxBufferedRecords - Math.Max(1, options.MaxBufferedRecords / 4);
    }

    public string Name { get; }

    public string ConsumerName => Name;

    public TimeProvider TimeProvider { get; }

    public ILogger Logger { get; }

    public IHandlerInvoker Invoker { get; }

    public SemaphoreSlim Gate { get; }

    public CancellationToken HardStopToken => _hardStop.Token;

    public KeyValuePair<string, object?> ConsumerTag => _consumerTag;

    /// <summary>
    /// The pipeline dead-letter replays run through: the consumer's, except that <see cref="KeyFailureMode.RetryUntilSuccess"/>
    /// is bounded by <c>MaxAttempts</c>, so a replay that keeps failing ends and keeps its dead letter.
    /// </summary>
    public ResiliencePipeline ReplayPipeline { get; set; } = ResiliencePipeline.Empty;

    /// <summary>Times every handler call of this consumer (records and replays); its sweeper timer ends with the consumer.</summary>
    public AttemptTimeouts? AttemptTimeouts { get; set; }

    public NonRetryablePolicy NonRetryable => _nonRetryable;

    /// <summary>The consumer's own dead-letter sink: its store for replay, so nobody opens a second writer on it.</summary>
    public IDeadLetterSink DeadLetterSink => _sink;

    public IReadOnlyDictionary<string, string> ParkedKeys => _parkedKeys;

    public int BufferedCount => Volatile.Read(ref _buffered);

    public int BlockedLaneCount => Volatile.Read(ref _blockedLanes);

    public int ActiveLaneCount => _shards.Values.Sum(static shard => shard.LaneCount);

    public long CheckpointLag => _shards.Values.Sum(static shard => shard.CheckpointLag);

    /// <summary>Rounds of the periodic checkpoint loop completed: lets a test wait for "several intervals passed" without sleeping.</summary>
    internal long CheckpointRounds => Interlocked.Read(ref _checkpointRounds);

    /// <summary>Whether a shard's reader is parked waiting for buffer space (backpressure), observed rather than assumed after a sleep.</summary>
    internal bool ReaderWaitsForCapacity => Volatile.Read(ref _capacityWaiter) is { Task.IsCompleted: false } || _shards.Values.Any(static shard => shard.HasCapacityWaiter);

    /// <summary>The key records are ordered by: the partition key unless the consumer chose another.</summary>
    public string LaneKeyOf(StreamRecord record) => _laneKey is null ? record.PartitionKey : _laneKey(record);

    public bool ReleaseKey(string partitionKey)
    {
        bool released = _parkedKeys.TryRemove(partitionKey, out _);
        if (released)
        {
            Log.KeyReleased(Logger, Name, SafeText.Escape(partitionKey));
        }

        return released;
    }

    public StreamConsumerStatus GetStatus()
    {
        long ticks = Interlocked.Read(ref _lastCheckpointTicks);
        return new StreamConsumerStatus
        {
            Name = Name,
            Running = _running,
            OpenShards = _shards.Count,
            Received = Interlocked.Read(ref _received),
            Handled = Interlocked.Read(ref _handled),
            Retried = Interlocked.Read(ref _retried),
            DeadLettered = Interlocked.Read(ref _deadLettered),
            Buffered = BufferedCount,
            ActiveLanes = ActiveLaneCount,
            BlockedLanes = BlockedLaneCount,
            CheckpointLag = CheckpointLag,
            ConsecutiveSinkFailures = Volatile.Read(ref _consecutiveSinkFailures),
            LastCheckpointAt = ticks < 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero),
            Fault = Volatile.Read(ref _fault),
            ReaderFaults = SnapshotReaderFaults(),
        };
    }

    public HealthCheckResult EvaluateHealth()
    {
        var data = new Dictionary<string, object>
        {
            ["buffered"] = BufferedCount,
            ["blockedLanes"] = BlockedLaneCount,
            ["checkpointLag"] = CheckpointLag,
            ["consecutiveSinkFailures"] = Volatile.Read(ref _consecutiveSinkFailures),
        };
        if (ReaderHealth(data) is HealthCheckResult readerHealth)
        {
            return readerHealth;
        }

        if (Volatile.Read(ref _fault) is Exception fault)
        {
            return HealthCheckResult.Unhealthy($"Consumer '{Name}' stopped processing part of its input: {SafeText.Escape(fault.Message, SafeText.MessageMaxLength)}", fault, data);
        }

        int sinkFailures = Volatile.Read(ref _consecutiveSinkFailures);
        if (sinkFailures >= _options.SinkFailuresBeforeUnhealthy)
        {
            return HealthCheckResult.Unhealthy($"Consumer '{Name}': the dead-letter sink failed {sinkFailures} times in a row; affected keys wait and the checkpoint holds.", data: data);
        }

        if (CheckpointLag > 0)
        {
            long ticks = Interlocked.Read(ref _lastCheckpointTicks);
            DateTimeOffset since = ticks < 0 ? _startedAt : new DateTimeOffset(ticks, TimeSpan.Zero);
            TimeSpan age = TimeProvider.GetUtcNow() - since;
            if (age > _options.MaxCheckpointAge)
            {
                return HealthCheckResult.Unhealthy($"Consumer '{Name}': no checkpoint saved for {age:g} while {CheckpointLag} records wait for one (MaxCheckpointAge {_options.MaxCheckpointAge:g}).", data: data);
            }
        }

        return _running ? HealthCheckResult.Healthy($"Consumer '{Name}' is running.", data) : HealthCheckResult.Degraded($"Consumer '{Name}' is not running.", data: data);
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            _startedAt = TimeProvider.GetUtcNow();
            DeadLetterFileLock.Acquire(Name, _options, _sink, Logger);
            StreamLanesMetrics.Track(this);
            await _source.StartAsync(this, cancellationToken).ConfigureAwait(false);
            _running = true;
            _checkpointLoopStop = new CancellationTokenSource();
            _checkpointLoop = Task.Run(() => CheckpointLoopAsync(_checkpointLoopStop.Token), CancellationToken.None);
            Log.ConsumerStarted(Logger, Name, _source.Kind, SafeText.Escape(_source.StreamName));
        }
        finally
        {
            _startCompleted.TrySetResult();
        }
    }

    private async Task StopOnceAsync(CancellationToken cancellationToken)
    {
        if (!_running)
        {
            return;
        }

        _running = false;
        try
        {
            await _source.StopReadingAsync(cancellationToken).ConfigureAwait(false);
            await DrainAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Whatever is still running is cancelled; its records stay incomplete, below the final checkpoint.
            await Task.WhenAll(_shards.Values.Select(static shard => shard.StopPumpsAsync())).ConfigureAwait(false);
            if (_checkpointLoopStop is not null)
            {
                await _checkpointLoopStop.CancelAsync().ConfigureAwait(false);
                await _checkpointLoop!.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            // The final checkpoint is written even when the host's stop token has fired: skipping it only costs
            // re-processing, but writing it keeps that to the minimum.
            using var finalCheckpointTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(10), TimeProvider);
            await CheckpointAllAsync(finalCheckpointTimeout.Token).ConfigureAwait(false);

            // The release has a budget of its own, not what the checkpoint left of a shared one: an SQS source waits
            // here for its last long polls to return (up to its WaitTime after the stop began) so that no message is
            // left hidden. A cap, not a wait: leases are released in a few calls.
            using var releaseTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(30), TimeProvider);
            await _source.ReleaseAsync(releaseTimeout.Token).ConfigureAwait(false);
            await DeadLetterFileLock.ReleaseAsync(_sink).ConfigureAwait(false);
            StreamLanesMetrics.Untrack(this);
            Log.ConsumerStopped(Logger, Name, BufferedCount);
        }
    }

    public async ValueTask DisposeAsync()
    {
        // The same instance is registered as the runtime and as IStreamConsumer, so the container disposes it twice.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _hardStop.CancelAsync().ConfigureAwait(false);

        // Give cancelled handlers a moment to unwind before their token sources go away; a handler that ignores
        // cancellation is left behind rather than blocking disposal.
        await Task.WhenAll(_shards.Values.Select(static shard => shard.StopPumpsAsync()))
            .WaitAsync(TimeSpan.FromSeconds(5), TimeProvider)
            .ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        foreach (ShardProcessor shard in _shards.Values)
        {
            shard.Dispose();
        }

        // The runtime owns the source, store and sink it was built with: their connections and timers end here.
        foreach (object owned in new object[] { _source, _checkpointStore, _sink })
        {
            if (owned is IAsyncDisposable asyncDisposable)
            {
                await asyncDisposable.DisposeAsync().ConfigureAwait(false);
            }
            else if (owned is IDisposable disposable)
            {
                disposable.Dispose();
            }
        }

        AttemptTimeouts?.Dispose();
        _hardStop.Dispose();
        _checkpointLoopStop?.Dispose();
        Gate.Dispose();
        StreamLanesMetrics.Untrack(this);
    }

    // ISourceHost

    public IShardCheckpointer CreateCheckpointer(string streamName, string shardId)
        => new StoreShardCheckpointer(_checkpointStore, new CheckpointKey(Name, streamName, shardId));

    public IShardProcessor OpenShard(string shardId, IShardCheckpointer checkpointer, SequenceNumber startAfter)
        => OpenShard(shardId, checkpointer, startAfter, acknowledger: null);

    public IShardProcessor OpenShard(string shardId, IShardCheckpointer checkpointer, SequenceNumber startAfter, IRecordAcknowledger? acknowledger)
    {
        var shard = new ShardProcessor(this, shardId, checkpointer, startAfter, acknowledger);
        if (!_shards.TryAdd(shardId, shard))
        {
            shard.Dispose();
            throw new InvalidOperationException($"Consumer '{Name}' already processes shard '{shardId}'.");
        }

        Log.ShardOpened(Logger, Name, SafeText.Escape(shardId), SafeText.Escape(startAfter.ToString()));
        return shard;
    }

    public void ReportFault(Exception exception)
    {
        Volatile.Write(ref _fault, exception);
        Log.SourceFault(Logger, SafeText.ForLog(exception), Name);
    }

    // Called by shards and lanes.

    public void OnShardClosed(ShardProcessor shard)
    {
        if (_shards.TryRemove(new KeyValuePair<string, ShardProcessor>(shard.ShardId, shard)))
        {
            ForgetReaderFault(shard.ShardId);

            // Records the closed shard still buffers (abandoned) no longer count against the consumer's bound.
            int remaining = shard.BufferedCount;
            if (remaining > 0)
            {
                Interlocked.Add(ref _buffered, -remaining);
                SignalCapacity();
            }
        }
    }

    /// <summary>
    /// Takes room for one record in the shard's and the consumer's buffers. The consumer-wide count is reserved
    /// atomically, since several shards' readers enqueue at once; the shard's own count has a single reader.
    /// </summary>
    public bool TryReserve(ShardProcessor shard)
    {
        if (shard.Tracker.PendingCount >= _options.MaxBufferedRecordsPerShard)
        {
            return false;
        }

        if (Interlocked.Increment(ref _buffered) > _options.MaxBufferedRecords)
        {
            Interlocked.Decrement(ref _buffered);
            return false;
        }

        return true;
    }

    /// <summary>Waits until <see cref="TryReserve"/> succeeds; returns holding the reservation.</summary>
    public async ValueTask WaitForCapacityAsync(ShardProcessor shard, CancellationToken cancellationToken)
    {
        while (!TryReserve(shard))
        {
            // Wait on the bound that is reached. A full shard waits on its own waiter, signalled by its own completions
            // once a quarter of its buffer is free; otherwise the consumer's total is full and the shared waiter is
            // signalled as before. (A single shared waiter for both made a full shard's reader wake at every completion
            // whenever the total was below three quarters, i.e. always with fewer than 8 shards at default options:
            // one wake-up, a TaskCompletionSource and two state machines per record read.)
            bool shardFull = shard.Tracker.PendingCount >= _options.MaxBufferedRecordsPerShard;
            TaskCompletionSource waiter = shardFull
                ? shard.GetCapacityWaiter()
                : Volatile.Read(ref _capacityWaiter) ?? InstallCapacityWaiter();
            if (waiter.Task.IsCompleted)
            {
                if (shardFull)
                {
                    shard.DiscardCapacityWaiter(waiter);
                }
                else
                {
                    Interlocked.CompareExchange(ref _capacityWaiter, null, waiter);
                }

                continue;
            }

            if (TryReserve(shard))
            {
                return;
            }

            await waiter.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Counts a record enqueued under a reservation from <see cref="TryReserve"/>.</summary>
    public void OnRecordBuffered()
    {
        Interlocked.Increment(ref _received);
        StreamLanesMetrics.RecordsReceived.Add(1, _consumerTag);
    }

    public void OnRecordComplete(ShardProcessor shard)
    {
        int total = Interlocked.Decrement(ref _buffered);
        if (shard.HasCapacityWaiter && shard.Tracker.PendingCount <= _resumeShardBuffered)
        {
            // The reader re-checks both bounds when it wakes: if the total is full it then waits on the shared waiter.
            shard.SignalCapacity();
        }

        if (Volatile.Read(ref _capacityWaiter) is not null
            && (total <= _resumeTotalBuffered || (shard.Tracker.PendingCount <= _resumeShardBuffered && total < _options.MaxBufferedRecords)))
        {
            SignalCapacity();
        }
    }

    public void OnLaneUnblocked() => Interlocked.Decrement(ref _blockedLanes);

    public void OnCheckpointSaved()
    {
        Interlocked.Exchange(ref _lastCheckpointTicks, TimeProvider.GetUtcNow().UtcTicks);
        StreamLanesMetrics.CheckpointsSaved.Add(1, _consumerTag);
    }

    public KeyLane RentLane(ShardProcessor shard, string key)
    {
        KeyLane? lane;
        lock (_lanePool)
        {
            _lanePool.TryPop(out lane);
        }

        lane ??= new KeyLane();
        lane.Assign(shard, key);
        return lane;
    }

    public void ReturnLane(KeyLane lane)
    {
        lock (_lanePool)
        {
            // A hot key's lane empties whenever its pump catches up with the reader and is rented again at once:
            // trimming its queue each time would regrow it (an allocation per few records). The first few lanes in
            // the pool keep their queues, which bounds the memory this keeps to WarmPooledLanes queues.
            lane.Reset(keepCapacity: _lanePool.Count < WarmPooledLanes);
            if (_lanePool.Count < MaxPooledLanes)
            {
                _lanePool.Push(lane);
            }
        }
    }

    /// <summary>
    /// Handles one record to completion: success, or a durable dead letter. Throws only when the shard stops,
    /// leaving the record incomplete (so the checkpoint stays before it).
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ProcessAsync(KeyLane lane, StreamRecord record)
    {
        CancellationToken stopping = lane.Shard.Stopping;
        stopping.ThrowIfCancellationRequested();
        if (_options.FailureMode == KeyFailureMode.ParkKey && _parkedKeys.TryGetValue(lane.Key, out string? parkedBehind))
        {
            await DeadLetterAsync(lane, record, DeadLetterReason.ParkedBehind, [], parkedBehind, stopping).ConfigureAwait(false);
            return;
        }

        if (IsTooOld(record))
        {
            await DeadLetterAsync(lane, record, DeadLetterReason.RecordTooOld, [], null, stopping).ConfigureAwait(false);
            ParkIfConfigured(lane, record);
            return;
        }

        lane.BeginRecord(record);
        Outcome<object?> outcome;
        ResilienceContext context = ResilienceContextPool.Shared.Get(stopping);
        try
        {
            context.Properties.Set(RetryPipelineFactory.LaneKey, lane);
            outcome = await _pipeline.ExecuteOutcomeAsync(AttemptCallback, context, lane).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }

        if (outcome.Exception is null)
        {
            lane.EndRecord();
            Interlocked.Increment(ref _handled);
            StreamLanesMetrics.RecordsHandled.Add(1, _consumerTag);
            return;
        }

        stopping.ThrowIfCancellationRequested();
        DeadLetterReason reason = lane.StopReason ?? (IsTooOld(record) ? DeadLetterReason.RecordTooOld : DeadLetterReason.RetriesExhausted);
        DeadLetterAttempt[] attempts = [.. lane.Attempts];
        lane.EndRecord();
        await DeadLetterAsync(lane, record, reason, attempts, null, stopping).ConfigureAwait(false);
        ParkIfConfigured(lane, record);
    }

    // Pooled like ProcessAsync: when the handler completes asynchronously this state machine would otherwise be boxed
    // on the heap for every attempt (about 180 B). Polly awaits the callback's ValueTask exactly once, as pooling needs.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<Outcome<object?>> AttemptAsync(ResilienceContext context, KeyLane lane)
    {
        StreamConsumerRuntime runtime = lane.Shard.Runtime;
        StreamRecord record = lane.CurrentRecord!;
        int attempt = ++lane.AttemptNumber;
        if (attempt > 1)
        {
            Interlocked.Increment(ref runtime._retried);
            StreamLanesMetrics.RecordsRetried.Add(1, runtime._consumerTag);
            if (runtime.IsTooOld(record))
            {
                lane.StopReason = DeadLetterReason.RecordTooOld;
                return Outcome.FromException<object?>(new RecordTooOldException(record, runtime._options.MaxRecordAge!.Value));
            }
        }

        await runtime.Gate.WaitAsync(context.CancellationToken).ConfigureAwait(false);
        long started = runtime.TimeProvider.GetTimestamp();
        AttemptTimeouts.RunningAttempt timing = StreamLanes.AttemptTimeouts.Start(runtime.AttemptTimeouts, context.CancellationToken);
        try
        {
            await runtime.Invoker.InvokeAsync(record, new HandlerContext(runtime.Name, record, attempt, timing.Token)).ConfigureAwait(false);
            timing.Stop();
            return Outcome.FromResult<object?>(null);
        }
        catch (Exception caught)
        {
            DateTimeOffset failedAt = runtime.TimeProvider.GetUtcNow();
            Exception ex = timing.StopAfterFailure(caught);
            lane.AddFailure(DeadLetterAttempt.FromException(attempt, failedAt - runtime.TimeProvider.GetElapsedTime(started), failedAt, ex));
            if (!lane.Blocked)
            {
                lane.Blocked = true;
                Interlocked.Increment(ref runtime._blockedLanes);
            }

            if (runtime._nonRetryable.IsNonRetryable(ex))
            {
                lane.StopReason = DeadLetterReason.NonRetryable;
            }

            if (runtime.Logger.IsEnabled(LogLevel.Debug))
            {
                // The handler's message may quote the key: the logger gets it escaped (the dead letter keeps it exact).
                Log.AttemptFailed(runtime.Logger, SafeText.ForLog(ex), runtime.Name, attempt, SafeText.Escape(record.ShardId), SafeText.Escape(record.SequenceNumber), SafeText.Escape(record.PartitionKey));
            }

            return Outcome.FromException<object?>(ex);
        }
        finally
        {
            runtime.Gate.Release();
            if (StreamLanesMetrics.HandlerDuration.Enabled)
            {
                StreamLanesMetrics.HandlerDuration.Record(runtime.TimeProvider.GetElapsedTime(started).TotalSeconds, runtime._consumerTag);
            }
        }
    }

    private bool IsTooOld(StreamRecord record)
        => _options.MaxRecordAge is TimeSpan maxAge && TimeProvider.GetUtcNow() - record.ArrivalTime > maxAge;

    private void ParkIfConfigured(KeyLane lane, StreamRecord record)
    {
        if (_options.FailureMode == KeyFailureMode.ParkKey && _parkedKeys.TryAdd(lane.Key, record.SequenceNumber))
        {
            Log.KeyParked(Logger, Name, SafeText.Escape(lane.Key), SafeText.Escape(record.SequenceNumber));
        }
    }

    private async ValueTask DeadLetterAsync(
        KeyLane lane,
        StreamRecord record,
        DeadLetterReason reason,
        DeadLetterAttempt[] attempts,
        string? parkedBehind,
        CancellationToken cancellationToken)
    {
        var envelope = new DeadLetterEnvelope
        {
            Consumer = Name,
            SourceKind = record.SourceKind,
            Stream = record.StreamName,
            Shard = record.ShardId,
            SequenceNumber = record.SequenceNumber,
            SubSequenceNumber = record.SubSequenceNumber,
            PartitionKey = record.PartitionKey,
            ArrivalTime = record.ArrivalTime,
            Attributes = record.Attributes,
            Payload = record.Data,
            Reason = reason,
            ParkedBehindSequenceNumber = parkedBehind,
            Attempts = attempts,
            DeadLetteredAt = TimeProvider.GetUtcNow(),
        };

        TimeSpan delay = _options.SinkRetryBaseDelay;
        for (int failures = 1; ; failures++)
        {
            try
            {
                await _sink.WriteAsync(envelope, cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _consecutiveSinkFailures, 0);
                Interlocked.Increment(ref _deadLettered);
                StreamLanesMetrics.RecordsDeadLettered.Add(1, _consumerTag, StreamLanesMetrics.ReasonTag(reason));
                Log.RecordDeadLettered(Logger, Name, SafeText.Escape(record.ShardId), SafeText.Escape(record.SequenceNumber), SafeText.Escape(record.PartitionKey), reason, attempts.Length);
                return;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                if (!lane.Blocked)
                {
                    lane.Blocked = true;
                    Interlocked.Increment(ref _blockedLanes);
                }

                Interlocked.Increment(ref _consecutiveSinkFailures);
                StreamLanesMetrics.SinkFailures.Add(1, _consumerTag);
                TimeSpan wait = Backoff.Jittered(delay);
                Log.SinkWriteFailed(Logger, SafeText.ForLog(ex), Name, SafeText.Escape(record.ShardId), SafeText.Escape(record.SequenceNumber), failures, wait);
                await Task.Delay(wait, TimeProvider, cancellationToken).ConfigureAwait(false);
                delay = Backoff.Next(delay, _options.SinkRetryMaxDelay);
            }
        }
    }

    private async Task DrainAsync(CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_options.DrainTimeout, TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            await Task.WhenAll(_shards.Values.Select(shard => shard.WaitDrainedAsync(linked.Token))).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested || cancellationToken.IsCancellationRequested)
        {
            Log.DrainTimedOut(Logger, Name, _options.DrainTimeout, BufferedCount);
        }
    }

    private async Task CheckpointLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.CheckpointInterval, TimeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                await CheckpointAllAsync(cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref _checkpointRounds);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task CheckpointAllAsync(CancellationToken cancellationToken)
    {
        foreach (ShardProcessor shard in _shards.Values)
        {
            try
            {
                if (!await shard.CheckpointAsync(cancellationToken).ConfigureAwait(false))
                {
                    await shard.AbandonAsync().ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Log.CheckpointFailed(Logger, SafeText.ForLog(ex), Name, SafeText.Escape(shard.ShardId));
            }
        }
    }

    private TaskCompletionSource InstallCapacityWaiter()
    {
        var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return Interlocked.CompareExchange(ref _capacityWaiter, created, null) ?? created;
    }

    private void SignalCapacity() => Interlocked.Exchange(ref _capacityWaiter, null)?.TrySetResult();
}

/// <summary>The failure recorded when a record became older than <c>MaxRecordAge</c> between attempts.</summary>
public sealed class RecordTooOldException : Exception
{
    /// <summary>Initializes the exception.</summary>
    public RecordTooOldException()
    {
    }

    /// <summary>Initializes the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public RecordTooOldException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes the exception with a message and a cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public RecordTooOldException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal RecordTooOldException(StreamRecord record, TimeSpan maxAge)
        : base($"Record {record} arrived at {record.ArrivalTime:O}, more than MaxRecordAge ({maxAge}) ago.")
    {
    }
}
