namespace StreamLanes;

/// <summary>
/// The back-off the engine's own retry loops share (dead-letter writes, shard reads, queue receives): each wait is
/// drawn from the upper half of the current delay, so that lanes or readers failing together do not retry together,
/// and the delay doubles up to a cap. Handler retries go through Polly instead.
/// </summary>
internal static class Backoff
{
    /// <summary>A wait between half the delay and the delay.</summary>
    public static TimeSpan Jittered(TimeSpan delay) => TimeSpan.FromTicks((long)(delay.Ticks * (0.5 + (Random.Shared.NextDouble() / 2))));

    /// <summary>The next delay: twice this one, at most <paramref name="max"/>.</summary>
    public static TimeSpan Next(TimeSpan delay, TimeSpan max) => TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, max.Ticks));
}
