using Polly.Timeout;
using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.Retry;

public sealed class AttemptTimeoutsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    [Fact]
    public void An_attempt_is_cancelled_no_earlier_than_the_timeout_and_no_later_than_two_ticks_after_it()
    {
        var clock = new ManualTimeProvider();
        using var timeouts = new AttemptTimeouts(Timeout, clock);
        Assert.Equal(TimeSpan.FromMilliseconds(100), timeouts.Tick);
        AttemptTimeouts.RunningAttempt attempt = AttemptTimeouts.Start(timeouts, CancellationToken.None);

        clock.Advance(Timeout - TimeSpan.FromMilliseconds(1), step: TimeSpan.FromMilliseconds(7));
        Assert.False(attempt.Token.IsCancellationRequested);

        clock.Advance(timeouts.Tick * 2 + TimeSpan.FromMilliseconds(1), step: TimeSpan.FromMilliseconds(7));
        Assert.True(attempt.Token.IsCancellationRequested);
        Exception recorded = attempt.StopAfterFailure(new OperationCanceledException(attempt.Token));
        TimeoutRejectedException rejection = Assert.IsType<TimeoutRejectedException>(recorded);
        Assert.Equal(Timeout, rejection.Timeout);
    }

    [Fact]
    public void An_attempt_that_ends_in_time_is_never_cancelled_and_the_next_attempt_starts_uncancelled()
    {
        var clock = new ManualTimeProvider();
        using var timeouts = new AttemptTimeouts(Timeout, clock);
        for (int i = 0; i < 5; i++)
        {
            AttemptTimeouts.RunningAttempt quick = AttemptTimeouts.Start(timeouts, CancellationToken.None);
            clock.Advance(Timeout - timeouts.Tick, step: timeouts.Tick);
            Assert.False(quick.Stop());
            Assert.False(quick.Token.IsCancellationRequested);
        }

        AttemptTimeouts.RunningAttempt slow = AttemptTimeouts.Start(timeouts, CancellationToken.None);
        clock.Advance(Timeout * 2, step: timeouts.Tick);
        Assert.True(slow.Stop());

        // The slot the timed-out attempt used is reused with a fresh source.
        AttemptTimeouts.RunningAttempt next = AttemptTimeouts.Start(timeouts, CancellationToken.None);
        Assert.False(next.Token.IsCancellationRequested);
        Assert.False(next.Stop());
    }

    [Fact]
    public void Cancelling_the_outer_token_cancels_the_attempt_at_once_and_is_not_reported_as_a_timeout()
    {
        var clock = new ManualTimeProvider();
        using var timeouts = new AttemptTimeouts(Timeout, clock);
        using var stopping = new CancellationTokenSource();
        AttemptTimeouts.RunningAttempt attempt = AttemptTimeouts.Start(timeouts, stopping.Token);
        stopping.Cancel();
        Assert.True(attempt.Token.IsCancellationRequested);
        var cancelled = new OperationCanceledException(attempt.Token);
        Assert.Same(cancelled, attempt.StopAfterFailure(cancelled));

        // A slot whose outer token is already cancelled starts cancelled; a new outer token starts clean.
        AttemptTimeouts.RunningAttempt afterStop = AttemptTimeouts.Start(timeouts, stopping.Token);
        Assert.True(afterStop.Token.IsCancellationRequested);
        afterStop.Stop();
        using var restarted = new CancellationTokenSource();
        AttemptTimeouts.RunningAttempt fresh = AttemptTimeouts.Start(timeouts, restarted.Token);
        Assert.False(fresh.Token.IsCancellationRequested);
        Assert.False(fresh.Stop());
    }

    [Fact]
    public void Without_timeouts_an_attempt_runs_on_the_outer_token_alone()
    {
        using var stopping = new CancellationTokenSource();
        AttemptTimeouts.RunningAttempt attempt = AttemptTimeouts.Start(null, stopping.Token);
        Assert.Equal(stopping.Token, attempt.Token);
        Assert.False(attempt.Stop());
    }

    [Fact]
    public async Task Concurrent_attempts_time_out_exactly_when_they_outlive_the_timeout()
    {
        // Two threads start and end attempts of random (manual-clock) lengths while the test thread moves the clock
        // and the sweeper runs on it. Every attempt must agree with the clock: never cancelled before the timeout,
        // always reported timed out when it ran past timeout + 2 ticks, and cancelled whenever reported so.
        var clock = new ManualTimeProvider();
        using var timeouts = new AttemptTimeouts(Timeout, clock);
        TimeSpan latest = Timeout + (timeouts.Tick * 2);
        var violations = new System.Collections.Concurrent.ConcurrentQueue<string>();
        int timedOutCount = 0, inTimeCount = 0;
        using var done = new CancellationTokenSource();

        Task[] workers = [.. Enumerable.Range(0, 2).Select(seed => Task.Run(() =>
        {
            var random = new Random(seed);
            while (!done.IsCancellationRequested)
            {
                // Each bound is checked with the clock readings that make it hardest to pass: the clock may move
                // between a reading and the call next to it.
                long beforeStart = clock.GetTimestamp();
                AttemptTimeouts.RunningAttempt attempt = AttemptTimeouts.Start(timeouts, CancellationToken.None);
                long afterStart = clock.GetTimestamp();
                TimeSpan wanted = TimeSpan.FromMilliseconds(random.Next(1_000, 3_000));
                while (clock.GetElapsedTime(afterStart) < wanted && !done.IsCancellationRequested)
                {
                    Thread.Yield();
                }

                bool cancelledBeforeStop = attempt.Token.IsCancellationRequested;
                TimeSpan shortest = clock.GetElapsedTime(afterStart);
                bool timedOut = attempt.Stop();
                TimeSpan longest = clock.GetElapsedTime(beforeStart);
                if (timedOut)
                {
                    Interlocked.Increment(ref timedOutCount);
                    if (longest < Timeout)
                    {
                        violations.Enqueue($"timed out after at most {longest}, before the timeout");
                    }

                    SpinWait.SpinUntil(() => attempt.Token.IsCancellationRequested, TimeSpan.FromSeconds(5));
                    if (!attempt.Token.IsCancellationRequested)
                    {
                        violations.Enqueue("reported timed out but its token was never cancelled");
                    }
                }
                else
                {
                    Interlocked.Increment(ref inTimeCount);
                    if (cancelledBeforeStop)
                    {
                        violations.Enqueue("token cancelled but the attempt was not reported timed out");
                    }

                    if (shortest > latest)
                    {
                        violations.Enqueue($"ran at least {shortest} without timing out (limit {latest})");
                    }
                }
            }
        }))];

        while (Volatile.Read(ref timedOutCount) < 60 || Volatile.Read(ref inTimeCount) < 60)
        {
            clock.Advance(TimeSpan.FromMilliseconds(50));
            await Task.Yield();
        }

        await done.CancelAsync();
        await Task.WhenAll(workers);
        Assert.Empty(violations);
    }
}
