using System.Diagnostics.CodeAnalysis;
using Polly;
using Polly.Retry;

namespace StreamLanes;

/// <summary>
/// The one place that builds the Polly.Core pipelines StreamLanes waits and retries with outside the handler's own
/// pipeline (<see cref="RetryPipelineFactory"/>): dead-letter writes, shard reads, queue receives, AWS requests and
/// the polls for a table or stream to become ACTIVE. Every wait is drawn by <see cref="Delay"/> (one jitter formula)
/// on the caller's <see cref="TimeProvider"/> with an injectable randomizer, so tests drive them with a fake clock
/// and a seeded randomizer.
/// </summary>
internal static class ResiliencePipelines
{
    /// <summary>What a caller reports a failed try with: the failure, the retry number (1-based) and the wait before it.</summary>
    public static readonly ResiliencePropertyKey<Action<Exception, int, TimeSpan>> OnRetryKey = new("StreamLanes.OnRetry");

    /// <summary>
    /// Set by a caller whose one execution spans several successes (a subscription's events, a read loop's pages): the
    /// back-off then counts the failures since the last <see cref="RetryStreak.Reset"/> rather than since the start.
    /// </summary>
    public static readonly ResiliencePropertyKey<RetryStreak> StreakKey = new("StreamLanes.RetryStreak");

    /// <summary>The randomizer used when none is injected: uniform in [0, 1).</summary>
    [SuppressMessage("Security", "CA5394:Do not use insecure randomness", Justification = "Back-off jitter only spreads retries; it protects nothing.")]
    public static double DefaultRandomizer() => Random.Shared.NextDouble();

    /// <summary>
    /// The wait before retry number <paramref name="retry"/> (1-based): the delay <c>min(MaxDelay, InitialDelay * 2^(retry-1))</c>
    /// jittered into its upper half (from half of it to all of it), so that callers failing together do not retry
    /// together while the wait still grows with every failure. Whole milliseconds, as timers wait them, so that the
    /// wait a log reports is the wait waited.
    /// </summary>
    public static TimeSpan Delay(BackoffOptions backoff, int retry, Func<double> randomizer)
    {
        ArgumentNullException.ThrowIfNull(backoff);
        ArgumentNullException.ThrowIfNull(randomizer);
        int exponent = Math.Clamp(retry - 1, 0, 40);
        double cap = Math.Min(backoff.MaxDelay.Ticks, backoff.InitialDelay.Ticks * Math.Pow(2, exponent));
        double ticks = cap * (0.5 + (Math.Clamp(randomizer(), 0, 1) / 2));
        return TimeSpan.FromMilliseconds(Math.Floor(ticks / TimeSpan.TicksPerMillisecond));
    }

    /// <summary>
    /// A pipeline that retries failures until the call succeeds or its token is cancelled: for what must not be given
    /// up (a dead letter, a shard's or queue's next records) while an outage lasts.
    /// </summary>
    /// <param name="name">The pipeline's name in Polly's telemetry.</param>
    /// <param name="backoff">The waits.</param>
    /// <param name="timeProvider">The clock the waits run on.</param>
    /// <param name="randomizer">The jitter's source, uniform in [0, 1); null for <see cref="DefaultRandomizer"/>.</param>
    /// <param name="shouldRetry">Which failures are retried (all but cancellation when null); the others propagate at once.</param>
    public static ResiliencePipeline UntilSuccess(string name, BackoffOptions backoff, TimeProvider timeProvider, Func<double>? randomizer = null, Func<Exception, bool>? shouldRetry = null)
        => Retrying(name, int.MaxValue, backoff, timeProvider, randomizer, shouldRetry);

    /// <summary>A pipeline that retries failures <paramref name="maxRetries"/> times at most (the failure then propagates).</summary>
    /// <param name="name">The pipeline's name in Polly's telemetry.</param>
    /// <param name="maxRetries">Retries after the first try.</param>
    /// <param name="backoff">The waits.</param>
    /// <param name="timeProvider">The clock the waits run on.</param>
    /// <param name="randomizer">The jitter's source, uniform in [0, 1); null for <see cref="DefaultRandomizer"/>.</param>
    /// <param name="shouldRetry">Which failures are retried (all but cancellation when null); the others propagate at once.</param>
    public static ResiliencePipeline Retrying(string name, int maxRetries, BackoffOptions backoff, TimeProvider timeProvider, Func<double>? randomizer = null, Func<Exception, bool>? shouldRetry = null)
    {
        ArgumentNullException.ThrowIfNull(backoff);
        ArgumentNullException.ThrowIfNull(timeProvider);
        if (maxRetries <= 0)
        {
            return ResiliencePipeline.Empty;
        }

        Func<double> random = randomizer ?? DefaultRandomizer;
        var retry = new RetryStrategyOptions
        {
            Name = name,
            MaxRetryAttempts = maxRetries,
            Randomizer = random,
            ShouldHandle = args => new ValueTask<bool>(
                args.Outcome.Exception is { } ex
                && !args.Context.CancellationToken.IsCancellationRequested
                && (shouldRetry is null || shouldRetry(ex))),
            DelayGenerator = args => new ValueTask<TimeSpan?>(Delay(backoff, FailureNumber(args.Context, args.AttemptNumber), random)),
            OnRetry = static args =>
            {
                if (args.Context.Properties.TryGetValue(OnRetryKey, out Action<Exception, int, TimeSpan>? report) && args.Outcome.Exception is { } failure)
                {
                    report(failure, args.AttemptNumber + 1, args.RetryDelay);
                }

                return default;
            },
        };
        return new ResiliencePipelineBuilder { Name = name, TimeProvider = timeProvider }.AddRetry(retry).Build();
    }

    /// <summary>The failure being retried (1-based): within the caller's streak when it keeps one, else within the execution.</summary>
    private static int FailureNumber(ResilienceContext context, int attemptNumber)
        => context.Properties.TryGetValue(StreakKey, out RetryStreak? streak) ? Interlocked.Increment(ref streak.Failures) : attemptNumber + 1;

    /// <summary>
    /// A pipeline that polls until the result satisfies <paramref name="done"/> (e.g. a table is ACTIVE), waiting the
    /// back-off between polls; failures are not retried (they propagate), and the caller bounds the wait with its token.
    /// </summary>
    public static ResiliencePipeline<T> Polling<T>(string name, BackoffOptions backoff, TimeProvider timeProvider, Func<T, bool> done, Func<double>? randomizer = null)
    {
        ArgumentNullException.ThrowIfNull(backoff);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(done);
        Func<double> random = randomizer ?? DefaultRandomizer;
        var poll = new RetryStrategyOptions<T>
        {
            Name = name,
            MaxRetryAttempts = int.MaxValue,
            Randomizer = random,
            ShouldHandle = args => new ValueTask<bool>(args.Outcome.Exception is null && !done(args.Outcome.Result!)),
            DelayGenerator = args => new ValueTask<TimeSpan?>(Delay(backoff, args.AttemptNumber + 1, random)),
        };
        return new ResiliencePipelineBuilder<T> { Name = name, TimeProvider = timeProvider }.AddRetry(poll).Build();
    }

    /// <summary>
    /// Polls with <paramref name="poll"/> through a <see cref="Polling{T}"/> pipeline until <paramref name="done"/> holds
    /// for its result, which it returns; bound the wait with <paramref name="cancellationToken"/>.
    /// </summary>
    public static async ValueTask<T> PollUntilAsync<T>(string name, BackoffOptions backoff, TimeProvider timeProvider, Func<CancellationToken, Task<T>> poll, Func<T, bool> done, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(poll);
        return await Polling(name, backoff, timeProvider, done)
            .ExecuteAsync(static async (poll, ct) => await poll(ct).ConfigureAwait(false), poll, cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>
    /// Runs <paramref name="action"/> through <paramref name="pipeline"/>, telling <paramref name="onRetry"/> about each
    /// failure that is retried (to log it, count it, report a fault) before its wait.
    /// </summary>
    public static async ValueTask<TResult> ExecuteAsync<TResult, TState>(
        this ResiliencePipeline pipeline,
        Func<TState, CancellationToken, ValueTask<TResult>> action,
        TState state,
        Action<Exception, int, TimeSpan>? onRetry,
        CancellationToken cancellationToken,
        RetryStreak? streak = null)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ResilienceContext context = ResilienceContextPool.Shared.Get(cancellationToken);
        if (onRetry is not null)
        {
            context.Properties.Set(OnRetryKey, onRetry);
        }

        if (streak is not null)
        {
            context.Properties.Set(StreakKey, streak);
        }

        try
        {
            return await pipeline.ExecuteAsync(
                static (ctx, s) => s.action(s.state, ctx.CancellationToken),
                context,
                (action, state)).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>As the other overload, for an action without a result.</summary>
    public static async ValueTask ExecuteAsync<TState>(
        this ResiliencePipeline pipeline,
        Func<TState, CancellationToken, ValueTask> action,
        TState state,
        Action<Exception, int, TimeSpan>? onRetry,
        CancellationToken cancellationToken,
        RetryStreak? streak = null)
    {
        ArgumentNullException.ThrowIfNull(action);
        await pipeline.ExecuteAsync(
            static async (s, ct) =>
            {
                await s.action(s.state, ct).ConfigureAwait(false);
                return true;
            },
            (action, state),
            onRetry,
            cancellationToken,
            streak).ConfigureAwait(false);
    }
}

/// <summary>Consecutive failures of one retried operation, reset by the caller on each success (see <see cref="ResiliencePipelines.StreakKey"/>).</summary>
internal sealed class RetryStreak
{
    /// <summary>Failures since the last success.</summary>
    internal int Failures;

    /// <summary>A success: the next failure waits the initial delay again.</summary>
    public void Reset() => Volatile.Write(ref Failures, 0);
}
