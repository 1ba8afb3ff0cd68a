namespace StreamLanes.Engine.Tests.Retry;

public sealed class ConcurrencyGateTests
{
    [Fact]
    public async Task Waiters_get_released_slots_in_order_and_a_cancelled_waiter_takes_none()
    {
        var gate = new ConcurrencyGate(1);
        await gate.WaitAsync(CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        ValueTask cancelled = gate.WaitAsync(cancel.Token);
        Task first = gate.WaitAsync(CancellationToken.None).AsTask();
        Task second = gate.WaitAsync(CancellationToken.None).AsTask();
        Assert.False(cancelled.IsCompleted);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await cancelled);
        Assert.False(first.IsCompleted);

        gate.Release();
        await first.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(second.IsCompleted);
        gate.Release();
        await second.WaitAsync(TimeSpan.FromSeconds(10));
        gate.Release();
        Assert.Equal(1, gate.FreeSlots);
    }

    [Fact]
    public async Task A_cancelled_caller_gets_no_slot_even_when_one_is_free()
    {
        var gate = new ConcurrencyGate(2);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await gate.WaitAsync(new CancellationToken(canceled: true)));
        Assert.Equal(2, gate.FreeSlots);
    }

    [Fact]
    public async Task Racing_callers_never_exceed_the_slots_and_all_finish()
    {
        const int Slots = 3;
        var gate = new ConcurrencyGate(Slots);
        int running = 0, maxRunning = 0, done = 0;
        async Task WorkerAsync()
        {
            for (int i = 0; i < 2_000; i++)
            {
                await gate.WaitAsync(CancellationToken.None);
                int now = Interlocked.Increment(ref running);
                int max;
                while (now > (max = Volatile.Read(ref maxRunning)) && Interlocked.CompareExchange(ref maxRunning, now, max) != max)
                {
                }

                if (i % 7 == 0)
                {
                    await Task.Yield();
                }

                Interlocked.Decrement(ref running);
                gate.Release();
            }

            Interlocked.Increment(ref done);
        }

        Task[] workers = [.. Enumerable.Range(0, 8).Select(_ => Task.Run(WorkerAsync))];
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(8, done);
        Assert.True(maxRunning <= Slots, $"{maxRunning} callers ran at once with {Slots} slots");
        Assert.Equal(Slots, gate.FreeSlots);
    }
}
