namespace StreamLanes.Engine.Tests.Support;

/// <summary>A clock that moves only when the test advances it; due timers fire on the advancing thread.</summary>
public sealed class ManualTimeProvider : TimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<ManualTimer> _timers = [];
    private long _nowTicks = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).UtcTicks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _nowTicks), TimeSpan.Zero);

    public override long GetTimestamp() => Interlocked.Read(ref _nowTicks);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Moves the clock forward in steps of at most <paramref name="step"/>, firing timers as they fall due.</summary>
    public void Advance(TimeSpan by, TimeSpan? step = null)
    {
        TimeSpan remaining = by;
        TimeSpan increment = step ?? by;
        while (remaining > TimeSpan.Zero)
        {
            TimeSpan next = remaining < increment ? remaining : increment;
            long target = Interlocked.Read(ref _nowTicks) + next.Ticks;
            while (true)
            {
                ManualTimer? due;
                lock (_lock)
                {
                    due = _timers.Where(t => t.DueTicks <= target).OrderBy(t => t.DueTicks).FirstOrDefault();
                    if (due is null)
                    {
                        break;
                    }

                    Interlocked.Exchange(ref _nowTicks, Math.Max(Interlocked.Read(ref _nowTicks), due.DueTicks));
                    if (due.PeriodTicks > 0)
                    {
                        due.DueTicks += due.PeriodTicks;
                    }
                    else
                    {
                        _timers.Remove(due);
                    }
                }

                due.Fire();
            }

            Interlocked.Exchange(ref _nowTicks, target);
            remaining -= next;
        }
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public long DueTicks { get; set; }

        public long PeriodTicks { get; private set; }

        public void Fire() => callback(state);

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._lock)
            {
                owner._timers.Remove(this);
                if (dueTime == Timeout.InfiniteTimeSpan)
                {
                    return true;
                }

                DueTicks = owner.GetTimestamp() + dueTime.Ticks;
                PeriodTicks = period == Timeout.InfiniteTimeSpan ? 0 : period.Ticks;
                owner._timers.Add(this);
                return true;
            }
        }

        public void Dispose()
        {
            lock (owner._lock)
            {
                owner._timers.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
