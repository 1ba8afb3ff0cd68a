using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;
using Polly;
using StreamLanes.Benchmarks.Support;

namespace StreamLanes.Benchmarks.Micro;

/// <summary>
/// The success path of one record's handling, compared with calling the handler directly: what the retry pipeline
/// (Polly.Core retry + per-attempt timeout, as <see cref="RetryPipelineFactory"/> builds it from default options)
/// and the engine's per-record bookkeeping add when the first attempt succeeds.
/// </summary>
[MemoryDiagnoser]
public class RetryPipelineBenchmarks
{
    private static readonly Func<ResilienceContext, AttemptState, ValueTask<Outcome<object?>>> Attempt = AttemptAsync;
    private static readonly Func<ResilienceContext, AttemptState, ValueTask<Outcome<bool>>> BoolAttempt = BoolAttemptAsync;

    private ServiceProvider _services = null!;
    private StreamRecord _record = null!;
    private HandlerInvoker<ReadOnlyMemory<byte>> _invoker = null!;
    private AttemptState _state = null!;
    private ResiliencePipeline _retryAndTimeout = null!;
    private ResiliencePipeline _retryOnly = null!;
    private BenchmarkConsumer _consumer = null!;
    private KeyLane _lane = null!;

    [GlobalSetup]
    public void GlobalSetup()
    {
        ulong sequence = 1;
        _record = RecordBatch.Build("bench-stream", PrebuiltRecordSource.ShardId(0), ["key"], 1, ref sequence)[0];
        _services = new ServiceCollection().BuildServiceProvider();
        _invoker = new HandlerInvoker<ReadOnlyMemory<byte>>(_services, typeof(NoOpHandler), new RawMemoryDeserializer(), scopePerRecord: false);
        _state = new AttemptState(_invoker, _record);
        var defaults = new StreamConsumerOptions();
        _retryAndTimeout = RetryPipelineFactory.Create(defaults, TimeProvider.System, null, null);
        _retryOnly = RetryPipelineFactory.Create(new StreamConsumerOptions { AttemptTimeout = null }, TimeProvider.System, null, null);

        // The full per-record path of a started consumer with default options, minus dispatching: a lane of a real shard.
        _consumer = BenchmarkConsumer.StartAsync().GetAwaiter().GetResult();
        _lane = _consumer.Runtime.RentLane(_consumer.Source.Shard(0), "key");
    }

    [GlobalCleanup]
    public void GlobalCleanup()
    {
        _consumer.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _services.Dispose();
    }

    [Benchmark(Baseline = true)]
    public ValueTask HandlerDirect() => _invoker.InvokeAsync(_record, new HandlerContext(BenchmarkConsumer.Name, _record, 1, CancellationToken.None));

    [Benchmark]
    public ValueTask<Outcome<object?>> PollyRetryOnly() => ExecuteAsync(_retryOnly);

    [Benchmark]
    public ValueTask<Outcome<object?>> PollyRetryAndTimeout() => ExecuteAsync(_retryAndTimeout);

    /// <summary>
    /// The same pipeline with a bool result, as the engine had it: Polly bridges a non-object result through the
    /// retry strategy's Outcome&lt;object&gt;, boxing it (24 B per record). Kept to show why the engine uses object.
    /// </summary>
    [Benchmark]
    public async ValueTask<Outcome<bool>> PollyRetryAndTimeoutBoolResult()
    {
        ResilienceContext context = ResilienceContextPool.Shared.Get(CancellationToken.None);
        try
        {
            return await _retryAndTimeout.ExecuteOutcomeAsync(BoolAttempt, context, _state).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>What a lane runs per record: the pipeline plus the concurrency gate, counters and context pooling.</summary>
    [Benchmark]
    public ValueTask EngineProcessRecord() => _consumer.Runtime.ProcessAsync(_lane, _record);

    private async ValueTask<Outcome<object?>> ExecuteAsync(ResiliencePipeline pipeline)
    {
        // The same shape as the engine's call: a pooled context and a static callback with state, so nothing allocates.
        ResilienceContext context = ResilienceContextPool.Shared.Get(CancellationToken.None);
        try
        {
            return await pipeline.ExecuteOutcomeAsync(Attempt, context, _state).ConfigureAwait(false);
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

    private static async ValueTask<Outcome<bool>> BoolAttemptAsync(ResilienceContext context, AttemptState state)
    {
        await state.Invoker.InvokeAsync(state.Record, new HandlerContext(BenchmarkConsumer.Name, state.Record, 1, context.CancellationToken)).ConfigureAwait(false);
        return Outcome.FromResult(true);
    }

    private sealed record AttemptState(HandlerInvoker<ReadOnlyMemory<byte>> Invoker, StreamRecord Record);
}
