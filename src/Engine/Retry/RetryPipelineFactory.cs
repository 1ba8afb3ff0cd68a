using System.Runtime.CompilerServices;
using Polly;
using Polly.Retry;

namespace StreamLanes;

/// <summary>
/// Builds a consumer's Polly.Core pipeline: retry (outermost), then the user's strategies. The per-attempt timeout
/// is not a strategy here but <see cref="AttemptTimeouts"/>, applied by the engine around each handler call.
/// </summary>
internal static class RetryPipelineFactory
{
    public static readonly ResiliencePropertyKey<KeyLane> LaneKey = new("StreamLanes.Lane");

    /// <summary>Set by a dead-letter replay (which has no lane) when its failure is non-retryable.</summary>
    public static readonly ResiliencePropertyKey<bool> StopRetryingKey = new("StreamLanes.StopRetrying");

    // The pipelines this factory built with no user strategy (ConfigurePipeline not used): for those the engine calls
    // the first attempt itself and enters the pipeline only after a failure (see RecordAttempts).
    private static readonly ConditionalWeakTable<ResiliencePipeline, object> BuiltInRetryOnly = [];

    /// <summary>Whether <paramref name="pipeline"/> holds nothing but the engine's own retry strategy (or nothing at all).</summary>
    public static bool IsBuiltInRetryOnly(ResiliencePipeline pipeline) => BuiltInRetryOnly.TryGetValue(pipeline, out _);

    public static ResiliencePipeline Create(
        StreamConsumerOptions options,
        TimeProvider timeProvider,
        Action<RetryStrategyOptions>? configureRetry,
        Action<ResiliencePipelineBuilder>? configurePipeline)
    {
        var retry = new RetryStrategyOptions
        {
            MaxRetryAttempts = options.FailureMode == KeyFailureMode.RetryUntilSuccess ? int.MaxValue : options.MaxAttempts - 1,
            Delay = options.Retry.InitialDelay,
            MaxDelay = options.Retry.MaxDelay,
            BackoffType = options.RetryBackoff switch
            {
                RetryBackoff.Constant => DelayBackoffType.Constant,
                RetryBackoff.Linear => DelayBackoffType.Linear,
                _ => DelayBackoffType.Exponential,
            },
            UseJitter = options.RetryJitter,
            Name = "StreamLanes.Retry",
        };
        configureRetry?.Invoke(retry);

        // Which failures are retried is the engine's decision (non-retryable exceptions, record age, shutdown): a user
        // predicate here could retry a poison payload forever or drop a record, so it is not customisable.
        retry.ShouldHandle = static args =>
        {
            if (args.Outcome.Exception is null || args.Context.CancellationToken.IsCancellationRequested)
            {
                return new ValueTask<bool>(false);
            }

            KeyLane? lane = args.Context.Properties.GetValue(LaneKey, null!);
            return new ValueTask<bool>(lane is null ? !args.Context.Properties.GetValue(StopRetryingKey, false) : lane.StopReason is null);
        };
        var builder = new ResiliencePipelineBuilder { TimeProvider = timeProvider, Name = "StreamLanes" };
        if (retry.MaxRetryAttempts > 0)
        {
            builder.AddRetry(retry);
        }

        configurePipeline?.Invoke(builder);
        ResiliencePipeline pipeline = builder.Build();
        if (configurePipeline is null)
        {
            BuiltInRetryOnly.TryAdd(pipeline, BuiltInRetryOnly);
        }

        return pipeline;
    }

    /// <summary>The consumer's attempt timeout, shared by its pipelines' callbacks and disposed with the consumer; null when disabled.</summary>
    public static AttemptTimeouts? CreateAttemptTimeouts(StreamConsumerOptions options, TimeProvider timeProvider)
        => options.AttemptTimeout is TimeSpan timeout ? new AttemptTimeouts(timeout, timeProvider) : null;
}
