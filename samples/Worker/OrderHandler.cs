using System.Collections.Concurrent;
using System.Diagnostics;

namespace StreamLanes.Samples.Worker;

/// <summary>The demo's message: an order placed by a customer (the partition key).</summary>
public sealed record OrderPlaced(int OrderId, string CustomerId, decimal Amount);

/// <summary>
/// Simulates a handler that calls a downstream service (2 ms), and a downstream that rejects every order of one
/// customer: the poison key.
/// </summary>
public sealed class OrderHandler(DemoTimeline timeline) : IStreamHandler<OrderPlaced>
{
    public const string PoisonCustomer = "customer-0666";

    public async ValueTask HandleAsync(OrderPlaced message, HandlerContext context)
    {
        await Task.Delay(2, context.CancellationToken);
        if (message.CustomerId == PoisonCustomer)
        {
            timeline.PoisonAttempt(context.Attempt);
            throw new InvalidOperationException($"Downstream rejected order {message.OrderId}: customer {message.CustomerId} is locked (attempt {context.Attempt}).");
        }

        timeline.Handled();
    }
}

/// <summary>Counts healthy records over time and remembers when the poison key was retrying.</summary>
public sealed class DemoTimeline
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly ConcurrentQueue<double> _handledAt = new();
    private double _firstPoisonFailure = double.NaN;
    private double _lastPoisonFailure = double.NaN;

    public TimeSpan Elapsed => _clock.Elapsed;

    public int HealthyHandled => _handledAt.Count;

    public (double From, double To) PoisonWindow => (_firstPoisonFailure, _lastPoisonFailure);

    public void Handled() => _handledAt.Enqueue(_clock.Elapsed.TotalSeconds);

    public void PoisonAttempt(int attempt)
    {
        double now = _clock.Elapsed.TotalSeconds;
        if (double.IsNaN(_firstPoisonFailure))
        {
            _firstPoisonFailure = now;
        }

        _lastPoisonFailure = now;
    }

    public int HandledBetween(double from, double to) => _handledAt.Count(t => t >= from && t <= to);
}
