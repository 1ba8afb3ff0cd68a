namespace StreamLanes;

/// <summary>
/// A one-shot wake-up that re-arms itself: a waiter <see cref="Arm"/>s it, re-checks its condition and awaits the task;
/// whoever changes the condition calls <see cref="Signal"/>, which completes the armed task and disarms. The next
/// <see cref="Arm"/> installs a fresh task, so a signal is never consumed twice and never lost between the check and
/// the wait (arm first, then re-check).
/// </summary>
/// <remarks>
/// This is the "install a TaskCompletionSource, swap, signal" pattern the runtime used for its capacity waiters,
/// the shard's drain and its pump exit, written once. Continuations run asynchronously: a signaller (a record's
/// completion on a lane's pump) never runs the woken reader's code inline.
/// </remarks>
internal sealed class AsyncSignal
{
    private TaskCompletionSource? _waiter;

    /// <summary>Whether a waiter is armed. A cheap read for a signaller deciding whether to evaluate its condition.</summary>
    public bool IsArmed => Volatile.Read(ref _waiter) is not null;

    /// <summary>Arms the signal (or joins the armed waiter) and returns the task the next <see cref="Signal"/> completes.</summary>
    public Task Arm()
    {
        if (Volatile.Read(ref _waiter) is { } armed)
        {
            return armed.Task;
        }

        var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return (Interlocked.CompareExchange(ref _waiter, created, null) ?? created).Task;
    }

    /// <summary>Wakes the armed waiter, if any, and disarms.</summary>
    public void Signal() => Interlocked.Exchange(ref _waiter, null)?.TrySetResult();
}
