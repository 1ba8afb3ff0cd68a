using System.Diagnostics;

namespace StreamLanes;

/// <summary>
/// The consumer's cap on handler calls running at once (<c>MaxConcurrentHandlers</c>). A free slot is taken and given
/// back with one compare-exchange and one increment; only a caller that finds no free slot queues, under a lock.
/// </summary>
/// <remarks>
/// It replaces a <see cref="SemaphoreSlim"/>, whose wait and release each take a monitor even when a slot is free:
/// two lock round trips per record, contended between the pumps of a busy consumer. A releaser gives its slot back
/// first and then looks for a waiter; a waiter registers first and then looks for a slot. Both are full fences, so
/// at least one of them sees the other and no slot is stranded while a caller waits.
/// </remarks>
internal sealed class ConcurrencyGate(int slots)
{
    private readonly int _slots = slots;
    private readonly Lock _lock = new();
    private readonly LinkedList<TaskCompletionSource> _waiters = new();
    private int _free = slots;
    private int _waiting;

    /// <summary>The cap: how many calls may run at once.</summary>
    public int Slots => _slots;

    /// <summary>Free slots (for tests and assertions).</summary>
    public int FreeSlots => Volatile.Read(ref _free);

    /// <summary>Takes a slot: completes at once when one is free, else when a slot is handed over or the token fires.</summary>
    public ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        // A cancelled caller gets no slot, even a free one (as SemaphoreSlim.WaitAsync): a stopping shard starts no call.
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        return TryTake() ? ValueTask.CompletedTask : new ValueTask(WaitSlowAsync(cancellationToken));
    }

    /// <summary>Gives a slot back, handing it to the longest waiting caller if there is one.</summary>
    public void Release()
    {
        Interlocked.Increment(ref _free);
        Debug.Assert(Volatile.Read(ref _free) <= _slots, "More slots released than taken.");
        if (Volatile.Read(ref _waiting) > 0)
        {
            HandOver();
        }
    }

    private bool TryTake()
    {
        int free = Volatile.Read(ref _free);
        while (free > 0)
        {
            int seen = Interlocked.CompareExchange(ref _free, free - 1, free);
            if (seen == free)
            {
                return true;
            }

            free = seen;
        }

        return false;
    }

    private async Task WaitSlowAsync(CancellationToken cancellationToken)
    {
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        LinkedListNode<TaskCompletionSource> node;
        lock (_lock)
        {
            Interlocked.Increment(ref _waiting);
            if (TryTake())
            {
                Interlocked.Decrement(ref _waiting);
                return;
            }

            node = _waiters.AddLast(waiter);
        }

        await using (cancellationToken.UnsafeRegister(static (state, token) => ((ConcurrencyGate)((object[])state!)[0]).Cancel((LinkedListNode<TaskCompletionSource>)((object[])state!)[1], token), new object[] { this, node }).ConfigureAwait(false))
        {
            await waiter.Task.ConfigureAwait(false);
        }
    }

    private void HandOver()
    {
        TaskCompletionSource? next = null;
        lock (_lock)
        {
            if (_waiters.First is { } first && TryTake())
            {
                _waiters.RemoveFirst();
                Interlocked.Decrement(ref _waiting);
                next = first.Value;
            }
        }

        next?.TrySetResult();
    }

    private void Cancel(LinkedListNode<TaskCompletionSource> node, CancellationToken token)
    {
        bool removed = false;
        lock (_lock)
        {
            // Still queued: it never got a slot. Already handed a slot: the waiter proceeds with it, as a semaphore's would.
            if (node.List is not null)
            {
                _waiters.Remove(node);
                Interlocked.Decrement(ref _waiting);
                removed = true;
            }
        }

        if (removed)
        {
            node.Value.TrySetCanceled(token);
        }
    }
}
