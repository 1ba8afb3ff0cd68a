using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;

namespace StreamLanes.Engine.Tests.Support;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that reports each timer it creates with the timer's due time, so that a test
/// advances the clock only once a wait is really scheduled (advancing earlier would not fire it).
/// </summary>
public sealed class SignallingFakeTime : FakeTimeProvider
{
    private readonly Channel<TimeSpan> _timers = Channel.CreateUnbounded<TimeSpan>();

    public SignallingFakeTime()
        : base(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero))
    {
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ITimer timer = base.CreateTimer(callback, state, dueTime, period);
        _timers.Writer.TryWrite(dueTime);
        return timer;
    }

    /// <summary>The due time of the next timer created, waiting at most 10 s (a busy machine) for it.</summary>
    public async Task<TimeSpan> NextTimerAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        return await _timers.Reader.ReadAsync(timeout.Token);
    }
}
