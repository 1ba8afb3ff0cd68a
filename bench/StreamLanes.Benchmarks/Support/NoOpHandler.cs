namespace StreamLanes.Benchmarks.Support;

/// <summary>A handler that does nothing and completes synchronously: what is left to measure is the engine.</summary>
internal sealed class NoOpHandler : IStreamHandler<ReadOnlyMemory<byte>>
{
    public ValueTask HandleAsync(ReadOnlyMemory<byte> message, HandlerContext context) => ValueTask.CompletedTask;
}
