namespace StreamLanes.Benchmarks.Support;

/// <summary>A handler that does nothing and completes synchronously: what is left to measure is the engine.</summary>
internal sealed class NoOpHandler : IStreamHandler<ReadOnlyMemory<byte>>
{
    public ValueTask HandleAsync(ReadOnlyMemory<byte> message, HandlerContext context) => ValueTask.CompletedTask;
}

/// <summary>A handler that completes asynchronously at once (a yield): the whole handling chain then runs its asynchronous path.</summary>
internal sealed class YieldingHandler : IStreamHandler<ReadOnlyMemory<byte>>
{
    public async ValueTask HandleAsync(ReadOnlyMemory<byte> message, HandlerContext context) => await Task.Yield();
}
