using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;
using Polly;
using StreamLanes.Benchmarks.Support;

namespace StreamLanes.Benchmarks.Micro;

/// <summary>
/// The success path of one record's handling, compared with calling the handler directly: what the retry pipeline
/// (Polly.Core retry as <see cref="RetryPipelineFactory"/> builds it from default options, plus the engine's
/// <see cref="AttemptTimeouts"/> around the handler call) and the engine's per-record bookkeeping add when the first
/// attempt succeeds. The Polly-timeout rows keep the former design (Polly's timeout strategy) side by side.
/// </summary>
[MemoryDiagnoser]
public class RetryPipelineBenchmarks
{
    private static readonly Func<ResilienceContext, AttemptState, ValueTask<Outcome<object?>>> Attempt = AttemptAsync;
    private static readonly Func<ResilienceContext, AttemptState, ValueTask<Outcome<bool>>> BoolAttempt = BoolAttemptAsync;
    private static readonly Func<ResilienceContext, AttemptState, ValueTask<Outcome<object?>>> TimedAttempt = TimedAttemptAsync;

    private ServiceProvider _services = null!;
    private StreamRecord _record = null!;
    private HandlerInvoker<ReadOnlyMemory<byte>> _invoker = null!;
    private AttemptState _state = null!;
    private ResiliencePipeline _retryAndPollyTimeout = null!;
    private ResiliencePipeline _retryOnly = null!;
    private AttemptTimeouts _attemptTimeouts = null!;
    private BenchmarkConsumer _consumer = null!;
    private KeyLane _lane = null!;

    [GlobalSetup]
    public void GlobalSetup()
    {
        ulong sequence = 1;
        _record = RecordBatch.Build("bench-stream", PrebuiltRecordSource.ShardId(0), ["key"], 1, ref sequence)[0];
        _services = new ServiceCollection().BuildServiceProvider();
        _invoker = new HandlerInvoker<ReadOnlyMemory<byte>>(_services, typeof(NoOpHandler), new RawMemoryDeserializer(), scopePerRecord: false);
        var defaults = new StreamConsumerOptions();
        _retryOnly = RetryPipelineFactory.Create(defaults, TimeProvider.System, null, null);
        _attemptTimeouts = RetryPipelineFactory.CreateAttemptTimeouts(defaults, TimeProvider.System)!;
        _state = new AttemptState(_invoker, _record, _attemptTimeouts);

        // The former design: the same retry with Polly's timeout strategy (60 s, the default AttemptTimeout) inside it.
        _retryAndPollyTimeout = RetryPipelineFactory.Create(defaults, TimeProvider.System, null, builder => builder.AddTimeout(defaults.AttemptTimeout!.Value));

        // The full per-record path of a started consumer with default options, minus dispatching: a lane of a real shard.
        _consumer = BenchmarkConsumer.StartAsync().GetAwaiter().GetResult();
        _lane = _consumer.Runtime.Lanes.Rent(_consumer.Source.Shard(0), "key");
    }

    [GlobalCleanup]
    public void GlobalCleanup()
    {
        _consumer.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _attemptTimeouts.Dispose();
        _services.Dispose();
    }

    [Benchmark(Baseline = true)]
    public ValueTask HandlerDirect() => _invoker.InvokeAsync(_record, new HandlerContext(BenchmarkConsumer.Name, _record, 1, CancellationToken.None));

    [Benchmark]
    public ValueTask<Outcome<object?>> PollyRetryOnly() => ExecuteAsync(_retryOnly, Attempt);

    /// <summary>The engine's default: Polly's retry, and the engine's attempt timeout around the handler call.</summary>
    [Benchmark]
    public ValueTask<Outcome<object?>> PollyRetryAndEngineTimeout() => ExecuteAsync(_retryOnly, TimedAttempt);

    /// <summary>The former default: Polly's retry and Polly's timeout strategy, which arms a runtime timer per attempt.</summary>
    [Benchmark]
    public ValueTask<Outcome<object?>> PollyRetryAndPollyTimeout() => ExecuteAsync(_retryAndPollyTimeout, Attempt);

    /// <summary>
    /// The same pipeline with a bool result, as the engine had it: Polly bridges a non-object result through the
    /// retry strategy's Outcome&lt;object&gt;, boxing it (24 B per record). Kept to show why the engine uses object.
    /// </summary>
    [Benchmark]
    public async ValueTask<Outcome<bool>> PollyRetryAndPollyTimeoutBoolResult()
    {
        ResilienceContext context = ResilienceContextPool.Shared.Get(CancellationToken.None);
        try
        {
            return await _retryAndPollyTimeout.ExecuteOutcomeAsync(BoolAttempt, context, _state).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>What a lane runs per record: the pipeline plus the concurrency gate, counters and context pooling.</summary>
    [Benchmark]
    public ValueTask EngineProcessRecord() => _consumer.Runtime.ProcessAsync(_lane, _record);

    private async ValueTask<Outcome<object?>> ExecuteAsync(ResiliencePipeline pipeline, Func<ResilienceContext, AttemptState, ValueTask<Outcome<object?>>> attempt)
    {
        // The same shape as the engine's call: a pooled context and a static callback with state, so nothing allocates.
        ResilienceContext context = ResilienceContextPool.Shared.Get(CancellationToken.None);
        try
        {
            return await pipeline.ExecuteOutcomeAsync(attempt, context, _state).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    // Shaped like the engine's attempt callback: invoke, and turn success into an outcome.
    private static async ValueTask<Outcome<object?>> AttemptAsync(ResilienceContext context, AttemptState state)
    {
        await state.Invoker.InvokeAsync(state.Record, new HandlerContext(BenchmarkConsumer.Name, state.Record, 1, context.CancellationToken)).ConfigureAwait(false);
        return Outcome.FromResult<object?>(null);
    }

    // Shaped like the engine's attempt callback since the engine owns the timeout: time the handler call.
    private static async ValueTask<Outcome<object?>> TimedAttemptAsync(ResilienceContext context, AttemptState state)
    {
        AttemptTimeouts.RunningAttempt timing = AttemptTimeouts.Start(state.Timeouts, context.CancellationToken);
        try
        {
            await state.Invoker.InvokeAsync(state.Record, new HandlerContext(BenchmarkConsumer.Name, state.Record, 1, timing.Token)).ConfigureAwait(false);
            timing.Stop();
            return Outcome.FromResult<object?>(null);
        }
        catch (Exception ex)
        {
            return Outcome.FromException<object?>(timing.StopAfterFailure(ex));
        }
    }

    private static async ValueTask<Outcome<bool>> BoolAttemptAsync(ResilienceContext context, AttemptState state)
    {
        await state.Invoker.InvokeAsync(state.Record, new HandlerContext(BenchmarkConsumer.Name, state.Record, 1, context.CancellationToken)).ConfigureAwait(false);
        return Outcome.FromResult(true);
    }

    private sealed record AttemptState(HandlerInvoker<ReadOnlyMemory<byte>> Invoker, StreamRecord Record, AttemptTimeouts Timeouts);
}
