using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Polly;
using StreamLanes.Checkpointing;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>
/// One consumer's engine: composes its parts (buffer bounds, lane pool, record attempts, dead-letter writer,
/// checkpoint scheduler, health) around the shards its source opens, decides what happens to each record (handle,
/// park, dead-letter) and owns the lifecycle: start, graceful stop, disposal.
/// </summary>
internal sealed partial class StreamConsumerRuntime : IStreamConsumer, ISourceHost, IAsyncDisposable
{
    private readonly StreamConsumerOptions _options;
    private readonly IStreamSource _source;
    private readonly ICheckpointStore _checkpointStore;
    private readonly CancellationTokenSource _hardStop = new();
    private readonly ConcurrentDictionary<string, ShardProcessor> _shards = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _parkedKeys = new(StringComparer.Ordinal);
    private readonly Func<StreamRecord, string>? _laneKey;
    private readonly DeadLetterWriter _deadLetters;
    private readonly CheckpointScheduler _checkpoints;
    private readonly ConsumerHealth _health;

    private int _disposed;
    private volatile bool _running;

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
        _source = source;
        _checkpointStore = checkpointStore;
        TimeProvider = timeProvider;
        Logger = logger;
        Counters = new ConsumerCounters(name, timeProvider);
        Bounds = new BufferBounds(options.MaxBufferedRecordsPerShard, options.MaxBufferedRecords);
        Lanes = new LanePool(options.MaxBufferedRecords);
        Attempts = new RecordAttempts(name, options, invoker, pipeline, nonRetryable, timeProvider, logger, Counters);
        Tracing = new RecordTracing(name, Counters, timeProvider);
        _deadLetters = new DeadLetterWriter(name, options, sink, timeProvider, logger, Counters, Tracing);
        _checkpoints = new CheckpointScheduler(name, options.CheckpointInterval, () => _shards.Values, timeProvider, logger);
        _health = new ConsumerHealth(this, options, Counters, logger);
    }

    public string Name { get; }

    public string ConsumerName => Name;

    public TimeProvider TimeProvider { get; }

    public ILogger Logger { get; }

    public ConsumerCounters Counters { get; }

    public BufferBounds Bounds { get; }

    public LanePool Lanes { get; }

    public RecordAttempts Attempts { get; }

    /// <summary>Spans and messaging-convention metrics of record processing (inert while nobody listens).</summary>
    public RecordTracing Tracing { get; }

    public CancellationToken HardStopToken => _hardStop.Token;

    public KeyValuePair<string, object?> ConsumerTag => Counters.ConsumerTag;

    /// <summary>
    /// The pipeline dead-letter replays run through: the consumer's, except that <see cref="KeyFailureMode.RetryUntilSuccess"/>
    /// is bounded by <c>MaxAttempts</c>, so a replay that keeps failing ends and keeps its dead letter.
    /// </summary>
    public ResiliencePipeline ReplayPipeline
    {
        get => Attempts.ReplayPipeline;
        set => Attempts.ReplayPipeline = value;
    }

    /// <summary>Times every handler call of this consumer (records and replays); its sweeper timer ends with the consumer.</summary>
    public AttemptTimeouts? AttemptTimeouts
    {
        get => Attempts.Timeouts;
        set => Attempts.Timeouts = value;
    }

    /// <summary>The consumer's own dead-letter sink: its store for replay, so nobody opens a second writer on it.</summary>
    public IDeadLetterSink DeadLetterSink => _deadLetters.Sink;

    public IReadOnlyDictionary<string, string> ParkedKeys => _parkedKeys;

    public bool Running => _running;

    public int OpenShardCount => _shards.Count;

    public int BufferedCount => Bounds.Total;

    public int BlockedLaneCount => Counters.BlockedLanes;

    public int ActiveLaneCount => _shards.Values.Sum(static shard => shard.LaneCount);

    public long CheckpointLag => _shards.Values.Sum(static shard => shard.CheckpointLag);

    /// <summary>Rounds of the periodic checkpoint loop completed: lets a test wait for "several intervals passed" without sleeping.</summary>
    internal long CheckpointRounds => _checkpoints.Rounds;

    /// <summary>Whether a shard's reader is parked waiting for buffer space (backpressure), observed rather than assumed after a sleep.</summary>
    internal bool ReaderWaitsForCapacity => Bounds.ReaderWaitsForTotal || _shards.Values.Any(static shard => shard.Buffer.ReaderWaits);

    /// <summary>The key records are ordered by: the partition key unless the consumer chose another.</summary>
    public string LaneKeyOf(StreamRecord record) => _laneKey is null ? record.PartitionKey : _laneKey(record);

    public bool ReleaseKey(string partitionKey)
    {
        bool released = Unpark(partitionKey);
        if (released)
        {
            Log.KeyReleased(Logger, Name, SafeText.Escape(partitionKey));
        }

        return released;
    }

    /// <summary>Publishes this consumer's metrics on the meter <paramref name="meterFactory"/> creates (the host's), if any.</summary>
    public void UseMeterFactory(IMeterFactory? meterFactory) => Counters.Instruments = StreamLanesInstruments.For(meterFactory);

    public StreamConsumerStatus GetStatus() => _health.GetStatus();

    public HealthCheckResult EvaluateHealth() => _health.Evaluate();

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            _health.Started(TimeProvider.GetUtcNow());
            DeadLetterFileLock.Acquire(Name, _options, DeadLetterSink, Logger);
            Counters.Instruments.Track(this);
            await _source.StartAsync(this, cancellationToken).ConfigureAwait(false);
            _running = true;
            _checkpoints.Start();
            Log.ConsumerStarted(Logger, Name, _source.Kind, SafeText.Escape(_source.StreamName));
        }
        finally
        {
            _startCompleted.TrySetResult();
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
        foreach (object owned in new object[] { _source, _checkpointStore, DeadLetterSink })
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
        _checkpoints.Dispose();
        Counters.Instruments.Untrack(this);
    }

    // ISourceHost

    public IShardCheckpointer CreateCheckpointer(string streamName, string shardId)
        => new StoreShardCheckpointer(_checkpointStore, new CheckpointKey(Name, streamName, shardId));

    public IShardProcessor OpenShard(string shardId, IShardCheckpointer checkpointer, SequenceNumber startAfter)
        => OpenShard(shardId, checkpointer, startAfter, acknowledger: null);

    public IShardProcessor OpenShard(string shardId, IShardCheckpointer checkpointer, SequenceNumber startAfter, IRecordAcknowledger? acknowledger)
    {
        ShardProcessor shard;
        try
        {
            shard = new ShardProcessor(this, shardId, checkpointer, startAfter, acknowledger);
        }
        catch (InvalidDataException ex)
        {
            // A broken saved key state: the shard must not be read without its parked keys, and nothing heals by waiting.
            ReportReaderFault(shardId, ex, fatal: true);
            throw;
        }

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
        _health.RecordFault(exception);
        Log.SourceFault(Logger, SafeText.ForLog(exception), Name);
    }

    public void OnShardClosed(ShardProcessor shard)
    {
        if (_shards.TryRemove(new KeyValuePair<string, ShardProcessor>(shard.ShardId, shard)))
        {
            _health.ForgetReader(shard.ShardId);
            _health.ParkedKeysFit(shard.ShardId);

            // Records the closed shard still buffers (abandoned) no longer count against the consumer's bound.
            Bounds.ReleaseAbandoned(shard.BufferedCount);
        }
    }

    /// <summary>
    /// Handles one record to completion: success, or a durable dead letter. Throws only when the shard stops,
    /// leaving the record incomplete (so the checkpoint stays before it).
    /// </summary>
    /// <remarks>
    /// An untraced record of a key that is not parked, young enough, whose attempts succeed at once is handled synchronously
    /// here, without a state machine; every other record takes <see cref="ProcessSlowAsync"/>, which checks again.
    /// </remarks>
    public ValueTask ProcessAsync(KeyLane lane, StreamRecord record)
    {
        CancellationToken stopping = lane.Shard.Stopping;
        if (Tracing.IsActive || stopping.IsCancellationRequested || IsParked(lane) || IsTooOld(record))
        {
            return ProcessSlowAsync(lane, record);
        }

        lane.BeginRecord(record);
        ValueTask<bool> attempts = Attempts.RunAsync(lane, stopping);
        if (!attempts.IsCompletedSuccessfully)
        {
            return AfterAttemptsAsync(lane, record, attempts, stopping);
        }

        if (!attempts.Result)
        {
            return AfterAttemptsAsync(lane, record, new ValueTask<bool>(false), stopping);
        }

        lane.EndRecord();
        Counters.RecordHandled(record.StreamName);
        return default;
    }

    /// <summary>
    /// The whole processing in one async method: parked keys, records too old, and every record while tracing or the
    /// processing-duration metric listens (the processing span must be current around the attempts, and an async
    /// method's return restores the caller's current activity).
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ProcessSlowAsync(KeyLane lane, StreamRecord record)
    {
        CancellationToken stopping = lane.Shard.Stopping;
        stopping.ThrowIfCancellationRequested();
        ProcessingScope trace = Tracing.Start(record);
        try
        {
            if (_options.FailureMode == KeyFailureMode.ParkKey && _parkedKeys.TryGetValue(lane.Key, out string? parkedBehind))
            {
                await _deadLetters.WriteAsync(lane, record, DeadLetterReason.ParkedBehind, [], parkedBehind, stopping).ConfigureAwait(false);
                trace.DeadLettered(DeadLetterReason.ParkedBehind, []);
                return;
            }

            if (IsTooOld(record))
            {
                string tooOld = await _deadLetters.WriteAsync(lane, record, DeadLetterReason.RecordTooOld, [], null, stopping).ConfigureAwait(false);
                trace.DeadLettered(DeadLetterReason.RecordTooOld, []);
                ParkIfConfigured(lane, record, tooOld);
                return;
            }

            lane.BeginRecord(record);
            if (await Attempts.RunAsync(lane, stopping).ConfigureAwait(false))
            {
                trace.Succeeded(lane.AttemptNumber);
                lane.EndRecord();
                Counters.RecordHandled(record.StreamName);
                return;
            }

            (DeadLetterReason reason, DeadLetterAttempt[] attempts) = await DeadLetterFailedAsync(lane, record, stopping).ConfigureAwait(false);
            trace.DeadLettered(reason, attempts);
        }
        finally
        {
            Tracing.End(trace, record);
        }
    }

    /// <summary>The rest of an untraced <see cref="ProcessAsync"/> once the attempts run: count the success, or write the dead letter.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask AfterAttemptsAsync(KeyLane lane, StreamRecord record, ValueTask<bool> attempts, CancellationToken stopping)
    {
        if (await attempts.ConfigureAwait(false))
        {
            lane.EndRecord();
            Counters.RecordHandled(record.StreamName);
            return;
        }

        await DeadLetterFailedAsync(lane, record, stopping).ConfigureAwait(false);
    }

    /// <summary>Writes the dead letter of a record whose attempts failed (and parks its key when configured).</summary>
    private async ValueTask<(DeadLetterReason Reason, DeadLetterAttempt[] Attempts)> DeadLetterFailedAsync(KeyLane lane, StreamRecord record, CancellationToken stopping)
    {
        stopping.ThrowIfCancellationRequested();
        DeadLetterReason reason = lane.StopReason ?? (IsTooOld(record) ? DeadLetterReason.RecordTooOld : DeadLetterReason.RetriesExhausted);
        DeadLetterAttempt[] failed = [.. lane.Attempts];
        lane.EndRecord();
        string deadLetterId = await _deadLetters.WriteAsync(lane, record, reason, failed, null, stopping).ConfigureAwait(false);
        ParkIfConfigured(lane, record, deadLetterId);
        return (reason, failed);
    }

    private bool IsParked(KeyLane lane) => _options.FailureMode == KeyFailureMode.ParkKey && _parkedKeys.ContainsKey(lane.Key);

    private bool IsTooOld(StreamRecord record)
        => _options.MaxRecordAge is TimeSpan maxAge && TimeProvider.GetUtcNow() - record.ArrivalTime > maxAge;

    private void ParkIfConfigured(KeyLane lane, StreamRecord record, string deadLetterId)
    {
        if (_options.FailureMode == KeyFailureMode.ParkKey && Park(lane.Key, record.ShardId, record.Identity, deadLetterId))
        {
            Log.KeyParked(Logger, Name, SafeText.Escape(lane.Key), SafeText.Escape(record.SequenceNumber));
        }
    }
}
