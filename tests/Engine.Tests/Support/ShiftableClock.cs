namespace StreamLanes.Engine.Tests.Support;

/// <summary>
/// The system clock plus an offset the test moves forward. Timers stay real, so the consumer runs normally,
/// while age-based checks (health, record age) can be driven past their limits without waiting and without
/// depending on how fast a loaded CI machine starts the host.
/// </summary>
public sealed class ShiftableClock : TimeProvider
{
    private long _offsetTicks;

    public void Advance(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));
}
