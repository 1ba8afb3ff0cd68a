using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Polly.Timeout;

namespace StreamLanes;

/// <summary>
/// The consumer's <see cref="StreamConsumerOptions.AttemptTimeout"/>, owned by the engine rather than a Polly timeout
/// strategy: Polly's arms and disarms a runtime timer on every attempt, which takes the timer queue's lock twice per
/// record (about a third of the pipeline's success-path cost, measured in bench/RESULTS.md §2). Here one timer per
/// consumer sweeps the attempts in flight, so an attempt costs a few field writes and one compare-exchange. The price
/// is precision: an attempt is cancelled between <c>timeout</c> and <c>timeout + 2 ticks</c> after it started, with a
/// tick of a twentieth of the timeout (5 to 500 ms).
/// </summary>
internal sealed class AttemptTimeouts : IDisposable
{
    [ThreadStatic]
    private static AttemptSlot? t_cachedSlot;

    private readonly TimeProvider _timeProvider;
    private readonly ITimer _sweeper;
    private readonly Stack<AttemptSlot> _sharedSlots = new();
    private readonly Lock _slotsLock = new();
    private AttemptSlot[] _allSlots = [];
    private int _sweeping;

    public AttemptTimeouts(TimeSpan timeout, TimeProvider timeProvider)
    {
        Timeout = timeout;
        _timeProvider = timeProvider;
        Tick = TimeSpan.FromTicks(Math.Clamp(timeout.Ticks / 20, TimeSpan.FromMilliseconds(5).Ticks, TimeSpan.FromMilliseconds(500).Ticks));
        _sweeper = timeProvider.CreateTimer(static state => ((AttemptTimeouts)state!).Sweep(), this, Tick, Tick);
    }

    public TimeSpan Timeout { get; }

    /// <summary>How often running attempts are checked; an attempt outlives the timeout by at most two of these.</summary>
    public TimeSpan Tick { get; }

    public void Dispose() => _sweeper.Dispose();

    /// <summary>
    /// Starts timing one handler call: its token is cancelled on timeout or when <paramref name="outer"/> is. With no
    /// timeouts (AttemptTimeout null) the call runs on <paramref name="outer"/> alone.
    /// </summary>
    public static RunningAttempt Start(AttemptTimeouts? timeouts, CancellationToken outer)
    {
        if (timeouts is null)
        {
            return new RunningAttempt(null, 0, outer, outer);
        }

        AttemptSlot slot = timeouts.RentSlot();
        long generation = slot.Begin(outer);
        return new RunningAttempt(slot, generation, slot.Token, outer);
    }

    /// <summary>A handler call being timed. Exactly one of <see cref="Stop"/> and <see cref="StopAfterFailure"/> must be called, once.</summary>
    [StructLayout(LayoutKind.Auto)]
    public readonly struct RunningAttempt
    {
        private readonly AttemptSlot? _slot;
        private readonly long _generation;
        private readonly CancellationToken _outer;

        internal RunningAttempt(AttemptSlot? slot, long generation, CancellationToken token, CancellationToken outer)
        {
            _slot = slot;
            _generation = generation;
            _outer = outer;
            Token = token;
        }

        /// <summary>The token to hand the handler.</summary>
        public CancellationToken Token { get; }

        /// <summary>Ends the timing; true when the timeout fired first (the token was or is being cancelled).</summary>
        public bool Stop()
        {
            if (_slot is null)
            {
                return false;
            }

            bool timedOut = !_slot.TryEnd(_generation);
            _slot.Owner.ReturnSlot(_slot);
            return timedOut;
        }

        /// <summary>
        /// Ends the timing of a call that threw, and says what to record: when only the timeout cancelled it (not the
        /// consumer stopping), a <see cref="TimeoutRejectedException"/> rather than "a task was canceled".
        /// </summary>
        public Exception StopAfterFailure(Exception caught)
        {
            bool timedOut = Stop();
            return timedOut && caught is OperationCanceledException && !_outer.IsCancellationRequested
                ? new TimeoutRejectedException($"The attempt did not finish within AttemptTimeout ({_slot!.Owner.Timeout}).", _slot.Owner.Timeout, caught)
                : caught;
        }
    }

    private AttemptSlot RentSlot()
    {
        AttemptSlot? cached = t_cachedSlot;
        if (cached is not null && ReferenceEquals(cached.Owner, this))
        {
            t_cachedSlot = null;
            return cached;
        }

        lock (_slotsLock)
        {
            if (_sharedSlots.TryPop(out AttemptSlot? shared))
            {
                return shared;
            }

            var created = new AttemptSlot(this);
            _allSlots = [.. _allSlots, created];
            return created;
        }
    }

    internal void ReturnSlot(AttemptSlot slot)
    {
        if (t_cachedSlot is null)
        {
            t_cachedSlot = slot;
            return;
        }

        lock (_slotsLock)
        {
            _sharedSlots.Push(slot);
        }
    }

    private void Sweep()
    {
        // Timer callbacks may overlap when one runs late; the slots' sweeper-side fields assume a single sweeper.
        if (Interlocked.Exchange(ref _sweeping, 1) != 0)
        {
            return;
        }

        try
        {
            long now = _timeProvider.GetTimestamp();
            foreach (AttemptSlot slot in Volatile.Read(ref _allSlots))
            {
                slot.CancelIfExpired(now, _timeProvider, Timeout);
            }
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    /// <summary>
    /// One attempt's cancellation source, reused across attempts. <see cref="_generation"/> is odd while an attempt
    /// runs; whoever moves it to the next even value first ends the attempt: its owner on completion, or the sweeper
    /// on timeout (which then cancels). Only the owner starts attempts, so the sweeper cannot cancel a later one.
    /// </summary>
    [SuppressMessage("Design", "CA1001", Justification = "Its sources never get a timer (cancellation is the sweeper's), so they hold nothing to dispose; a source in use by a running handler must not be disposed under it.")]
    internal sealed class AttemptSlot(AttemptTimeouts owner)
    {
        private CancellationTokenSource _source = new();
        private CancellationToken _linkedOuter;
        private CancellationTokenRegistration _outerRegistration;
        private long _generation;

        // Touched by the sweeper only: when it first saw the running generation, which bounds the attempt's start
        // from below by at most one tick without reading the clock on the attempt's path.
        private long _seenGeneration = -1;
        private long _seenAt;

        public AttemptTimeouts Owner { get; } = owner;

        public CancellationToken Token => _source.Token;

        public long Begin(CancellationToken outer)
        {
            // Re-link before checking the source: disposing the old registration waits for its running callback, so
            // after it no earlier token can cancel the source this attempt is about to use.
            if (outer != _linkedOuter)
            {
                _outerRegistration.Dispose();
                _linkedOuter = outer;
                _outerRegistration = outer.UnsafeRegister(static state => ((AttemptSlot)state!).CancelFromOuter(), this);
            }

            if (_source.IsCancellationRequested)
            {
                _source = new CancellationTokenSource();
            }

            long generation = _generation + 1;
            Volatile.Write(ref _generation, generation);
            if (outer.IsCancellationRequested)
            {
                // The callback above may have cancelled the previous source before it was replaced.
                _source.Cancel();
            }

            return generation;
        }

        public bool TryEnd(long generation)
        {
            if (Interlocked.CompareExchange(ref _generation, generation + 1, generation) == generation)
            {
                return true;
            }

            // The sweeper ended it and may still be cancelling this source: the next attempt gets a fresh one.
            _source = new CancellationTokenSource();
            return false;
        }

        public void CancelIfExpired(long now, TimeProvider timeProvider, TimeSpan timeout)
        {
            long generation = Volatile.Read(ref _generation);
            if ((generation & 1) == 0)
            {
                return;
            }

            if (generation != _seenGeneration)
            {
                _seenGeneration = generation;
                _seenAt = now;
                return;
            }

            // Read before the exchange: the source can only be replaced after this generation ended.
            CancellationTokenSource source = _source;
            if (timeProvider.GetElapsedTime(_seenAt, now) >= timeout
                && Interlocked.CompareExchange(ref _generation, generation + 1, generation) == generation)
            {
                try
                {
                    source.Cancel();
                }
                catch (AggregateException)
                {
                    // A handler's own cancellation callback threw; the attempt is cancelled regardless, and the
                    // sweeper must keep serving the other attempts.
                }
            }
        }

        private void CancelFromOuter()
        {
            try
            {
                _source.Cancel();
            }
            catch (AggregateException)
            {
                // As in CancelIfExpired: cancellation happened; a callback's failure is the handler's to report.
            }
        }
    }
}
