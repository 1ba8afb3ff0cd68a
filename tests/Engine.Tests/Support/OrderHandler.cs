namespace StreamLanes.Engine.Tests.Support;

public sealed record Order(int OrderId, string Customer);

/// <summary>A typed JSON handler that records the orders it received.</summary>
public sealed class OrderHandler : IStreamHandler<Order>
{
    public System.Collections.Concurrent.ConcurrentQueue<Order> Received { get; } = new();

    public ValueTask HandleAsync(Order message, HandlerContext context)
    {
        Received.Enqueue(message);
        return ValueTask.CompletedTask;
    }
}
