using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Polly;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>
/// Runs a record's handler attempts for one consumer, for live records (on a lane) and for dead-letter replays alike:
/// the concurrency gate, the engine's attempt timeout, the handler call and the record of each failed attempt, with
/// the retry pipeline around them.
/// </summary>
/// <remarks>
/// When the pipeline is only the engine's built-in retry (the user added no strategy with <c>ConfigurePipeline</c>),
/// the first attempt of a live record is called directly and the pipeline is entered only after it failed: its first
/// callback hands back that failure instead of calling the handler again, so the retry strategy sees the same
/// outcomes, attempt numbers and delays as if it had run the first attempt itself. A success then costs no Polly
/// machinery (about 220 ns per record, bench/RESULTS.md §2). With user strategies every attempt runs through the whole
/// pipeline, so that they see every attempt.
/// </remarks>
internal sealed class RecordAttempts
{
    private static readonly Func<ResilienceContext, KeyLane, ValueTask<Outcome<object?>>> LiveCallback = LiveAttemptAsync;
    private static readonly Func<ResilienceContext, ReplayedRecord, ValueTask<Outcome<object?>>> ReplayCallback = ReplayAttemptAsync;

    private readonly string _consumer;
    private readonly StreamConsumerOptions _options;
    private readonly IHandlerInvoker _invoker;
    private readonly ResiliencePipeline _pipeline;
    private readonly bool _firstAttemptDirect;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly ConsumerCounters _counters;

    public RecordAttempts(
        string consumer,
        StreamConsumerOptions options,
        IHandlerInvoker invoker,
        ResiliencePipeline pipeline,
        NonRetryablePolicy nonRetryable,
        TimeProvider timeProvider,
        ILogger logger,
        ConsumerCounters counters)
    {
        _consumer = consumer;
        _options = options;
        _invoker = invoker;
        _pipeline = pipeline;
        _firstAttemptDirect = RetryPipelineFactory.IsBuiltInRetryOnly(pipeline);
        NonRetryable = nonRetryable;
        _timeProvider = timeProvider;
        _logger = logger;
        _counters = counters;
        Gate = new ConcurrencyGate(options.MaxConcurrentHandlers);
    }

    /// <summary>Caps the handler calls running at once (<c>MaxConcurrentHandlers</c>); back-off waits hold no slot.</summary>
    public ConcurrencyGate Gate { get; }

    public NonRetryablePolicy NonRetryable { get; }

    /// <summary>Times every handler call (records and replays); null when <c>AttemptTimeout</c> is disabled.</summary>
    public AttemptTimeouts? Timeouts { get; set; }

    /// <summary>The pipeline replays run through (<c>RetryUntilSuccess</c> bounded by <c>MaxAttempts</c>).</summary>
    public ResiliencePipeline ReplayPipeline { get; set; } = ResiliencePipeline.Empty;

    /// <summary>
    /// Runs the attempts of the lane's current record (<see cref="KeyLane.BeginRecord"/>) until one succeeds or the
    /// retry strategy gives up. The failed attempts are in <see cref="KeyLane.Attempts"/>, the reason to stop early in
    /// <see cref="KeyLane.StopReason"/>.
    /// </summary>
    /// <returns>Whether an attempt succeeded.</returns>
    public ValueTask<bool> RunAsync(KeyLane lane, CancellationToken stopping)
    {
        if (!_firstAttemptDirect)
        {
            return RunPipelineAsync(lane, stopping);
        }

        // Synchronously, as far as the handler lets it: no state machine runs for a record whose attempt succeeds at once.
        ValueTask<Exception?> first = CallLiveAsync(lane, stopping);
        if (!first.IsCompletedSuccessfully)
        {
            return AfterFirstAttemptAsync(first, lane, stopping);
        }

        Exception? failure = first.Result;
        if (failure is null)
        {
            return new ValueTask<bool>(true);
        }

        lane.FirstFailure = failure;
        return RunPipelineAsync(lane, stopping);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> AfterFirstAttemptAsync(ValueTask<Exception?> first, KeyLane lane, CancellationToken stopping)
    {
        Exception? failure = await first.ConfigureAwait(false);
        if (failure is null)
        {
            return true;
        }

        lane.FirstFailure = failure;
        return await RunPipelineAsync(lane, stopping).ConfigureAwait(false);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> RunPipelineAsync(KeyLane lane, CancellationToken stopping)
    {
        ResilienceContext context = ResilienceContextPool.Shared.Get(stopping);
        try
        {
            context.Properties.Set(RetryPipelineFactory.LaneKey, lane);
            Outcome<object?> outcome = await _pipeline.ExecuteOutcomeAsync(LiveCallback, context, lane).ConfigureAwait(false);
            return outcome.Exception is null;
        }
        finally
        {
            lane.FirstFailure = null;
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>Replays a dead letter through <see cref="ReplayPipeline"/>; attempts are numbered after the envelope's.</summary>
    /// <returns>Null on success, else the failed attempts of this replay.</returns>
    public async ValueTask<IReadOnlyList<DeadLetterAttempt>?> ReplayAsync(StreamRecord record, int previousAttempts, CancellationToken cancellationToken)
    {
        var replayed = new ReplayedRecord(this, record, previousAttempts);
        ResilienceContext context = ResilienceContextPool.Shared.Get(cancellationToken);
        Outcome<object?> outcome;
        try
        {
            outcome = await ReplayPipeline.ExecuteOutcomeAsync(ReplayCallback, context, replayed).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }

        cancellationToken.ThrowIfCancellationRequested();
        if (outcome.Exception is null)
        {
            return null;
        }

        if (replayed.Attempts.Count == 0)
        {
            // The pipeline refused before any attempt ran (e.g. a user's circuit breaker): record that as the failure.
            DateTimeOffset now = _timeProvider.GetUtcNow();
            replayed.Attempts.Add(DeadLetterAttempt.FromException(previousAttempts + 1, now, now, outcome.Exception));
        }

        return replayed.Attempts;
    }

    private static ValueTask<Outcome<object?>> LiveAttemptAsync(ResilienceContext context, KeyLane lane)
    {
        // The attempt called before the pipeline was entered: hand its failure to the retry strategy as attempt 0.
        if (lane.FirstFailure is Exception first)
        {
            lane.FirstFailure = null;
            return new ValueTask<Outcome<object?>>(Outcome.FromException<object?>(first));
        }

        return ToOutcome(lane.Shard.Runtime.Attempts.CallLiveAsync(lane, context.CancellationToken));
    }

    private static async ValueTask<Outcome<object?>> ReplayAttemptAsync(ResilienceContext context, ReplayedRecord replayed)
    {
        RecordAttempts self = replayed.Owner;
        int attempt = replayed.PreviousAttempts + replayed.Attempts.Count + 1;
        Exception? failure = await self.CallAsync(replayed.Record, attempt, replayed.Attempts, lane: null, context.CancellationToken).ConfigureAwait(false);
        if (failure is null)
        {
            return Outcome.FromResult<object?>(null);
        }

        if (self.NonRetryable.IsNonRetryable(failure))
        {
            context.Properties.Set(RetryPipelineFactory.StopRetryingKey, true);
        }

        return Outcome.FromException<object?>(failure);
    }

    // The attempt's result type is object, not bool: the pipeline's retry strategy is a ResilienceStrategy<object>, and
    // Polly bridges any other result type by boxing it into an Outcome<object> (one allocation per record).
    private static ValueTask<Outcome<object?>> ToOutcome(ValueTask<Exception?> call)
    {
        if (call.IsCompletedSuccessfully)
        {
            Exception? failure = call.Result;
            return new ValueTask<Outcome<object?>>(failure is null ? Outcome.FromResult<object?>(null) : Outcome.FromException<object?>(failure));
        }

        return AwaitOutcomeAsync(call);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<Outcome<object?>> AwaitOutcomeAsync(ValueTask<Exception?> call)
    {
        Exception? failure = await call.ConfigureAwait(false);
        return failure is null ? Outcome.FromResult<object?>(null) : Outcome.FromException<object?>(failure);
    }

    /// <summary>One attempt of a live record: counts retries and stops a record that became too old before calling.</summary>
    private ValueTask<Exception?> CallLiveAsync(KeyLane lane, CancellationToken cancellationToken)
    {
        StreamRecord record = lane.CurrentRecord!;
        int attempt = ++lane.AttemptNumber;
        if (attempt > 1)
        {
            _counters.AttemptRetried();
            if (_options.MaxRecordAge is TimeSpan maxAge && _timeProvider.GetUtcNow() - record.ArrivalTime > maxAge)
            {
                lane.StopReason = DeadLetterReason.RecordTooOld;
                return new ValueTask<Exception?>(new RecordTooOldException(record, maxAge));
            }
        }

        return CallAsync(record, attempt, lane.Attempts, lane, cancellationToken);
    }

    /// <summary>
    /// One handler call inside the concurrency gate and the attempt timeout. A failure is added to
    /// <paramref name="attempts"/> and returned (a timeout as Polly's TimeoutRejectedException); null means success.
    /// </summary>
    /// <remarks>
    /// A call that gets a free slot and whose handler completes at once runs here without a state machine (the
    /// engine's success path, bench/RESULTS.md §13); anything else continues in <see cref="FinishCallAsync"/> or
    /// <see cref="CallAfterWaitAsync"/>, which do exactly the same steps.
    /// </remarks>
    private ValueTask<Exception?> CallAsync(StreamRecord record, int attempt, List<DeadLetterAttempt> attempts, KeyLane? lane, CancellationToken cancellationToken)
    {
        // While tracing listens the call takes the async path: the attempt span is Activity.Current while the handler
        // runs, and only an async method's return restores the caller's current activity.
        ValueTask slot = Gate.WaitAsync(cancellationToken);
        if (!slot.IsCompletedSuccessfully || RecordTracing.Source.HasListeners())
        {
            return CallAfterWaitAsync(slot, record, attempt, attempts, lane, cancellationToken);
        }

        long started = _timeProvider.GetTimestamp();
        AttemptTimeouts.RunningAttempt timing = AttemptTimeouts.Start(Timeouts, cancellationToken);
        ValueTask call = Invoke(record, attempt, timing.Token);
        if (!call.IsCompletedSuccessfully)
        {
            return FinishCallAsync(call, started, timing, record, attempt, attempts, lane);
        }

        // Observes the result (a pooled task source is released only then).
        call.GetAwaiter().GetResult();
        timing.Stop();
        Gate.Release();
        if (lane is not null)
        {
            _counters.AttemptDuration(started);
        }

        return default;
    }

    // Pooled: when the handler completes asynchronously this state machine would otherwise be boxed on the heap for
    // every attempt (about 180 B). Every caller awaits the ValueTask exactly once, as pooling needs.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Exception?> CallAfterWaitAsync(ValueTask slot, StreamRecord record, int attempt, List<DeadLetterAttempt> attempts, KeyLane? lane, CancellationToken cancellationToken)
    {
        await slot.ConfigureAwait(false);
        long started = _timeProvider.GetTimestamp();
        AttemptTimeouts.RunningAttempt timing = AttemptTimeouts.Start(Timeouts, cancellationToken);
        System.Diagnostics.Activity? span = RecordTracing.StartAttempt(record, attempt);
        Exception? failure = await FinishCallAsync(Invoke(record, attempt, timing.Token), started, timing, record, attempt, attempts, lane).ConfigureAwait(false);
        RecordTracing.EndAttempt(span, failure);
        return failure;
    }

    /// <summary>Starts the handler call; a handler that throws before returning its task fails the attempt like one whose task faults.</summary>
    private ValueTask Invoke(StreamRecord record, int attempt, CancellationToken attemptToken)
    {
        try
        {
            return _invoker.InvokeAsync(record, new HandlerContext(_consumer, record, attempt, attemptToken));
        }
        catch (Exception ex)
        {
            return ValueTask.FromException(ex);
        }
    }

    /// <summary>Awaits a started handler call holding a slot, then releases the slot; see <see cref="CallAsync"/>.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Exception?> FinishCallAsync(ValueTask call, long started, AttemptTimeouts.RunningAttempt timing, StreamRecord record, int attempt, List<DeadLetterAttempt> attempts, KeyLane? lane)
    {
        try
        {
            await call.ConfigureAwait(false);
            timing.Stop();
            return null;
        }
        catch (Exception caught)
        {
            DateTimeOffset failedAt = _timeProvider.GetUtcNow();
            Exception ex = timing.StopAfterFailure(caught);
            var failure = DeadLetterAttempt.FromException(attempt, failedAt - _timeProvider.GetElapsedTime(started), failedAt, ex);
            if (lane is not null)
            {
                // Live attempts go through the lane, which also publishes its latest failure for inspection.
                lane.AddFailure(failure);
                OnLiveAttemptFailed(lane, record, attempt, ex);
            }
            else
            {
                attempts.Add(failure);
            }

            return ex;
        }
        finally
        {
            Gate.Release();
            if (lane is not null)
            {
                _counters.AttemptDuration(started);
            }
        }
    }

    private void OnLiveAttemptFailed(KeyLane lane, StreamRecord record, int attempt, Exception ex)
    {
        _counters.LaneBlocked(lane);
        if (NonRetryable.IsNonRetryable(ex))
        {
            lane.StopReason = DeadLetterReason.NonRetryable;
        }

        if (_logger.IsEnabled(LogLevel.Debug))
        {
            // The handler's message may quote the key: the logger gets it escaped (the dead letter keeps it exact).
            Log.AttemptFailed(_logger, SafeText.ForLog(ex), _consumer, attempt, SafeText.Escape(record.ShardId), SafeText.Escape(record.SequenceNumber), SafeText.Escape(record.PartitionKey));
        }
    }

    private sealed class ReplayedRecord(RecordAttempts owner, StreamRecord record, int previousAttempts)
    {
        public RecordAttempts Owner { get; } = owner;

        public StreamRecord Record { get; } = record;

        public int PreviousAttempts { get; } = previousAttempts;

        public List<DeadLetterAttempt> Attempts { get; } = [];
    }
}
