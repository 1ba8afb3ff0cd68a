using StreamLanes.Checkpointing;

namespace StreamLanes.Checkpointing.Tests.Tracking;

public sealed class CheckpointTrackerTests
{
    [Fact]
    public void Starts_at_the_stored_checkpoint()
    {
        var tracker = new CheckpointTracker(SequenceNumber.FromInteger(41));
        Assert.Equal(SequenceNumber.FromInteger(41), tracker.SafeCheckpoint);
        long token = tracker.Register(SequenceNumber.FromInteger(42));
        Assert.Equal(SequenceNumber.FromInteger(41), tracker.SafeCheckpoint);
        tracker.Complete(token);
        Assert.Equal(SequenceNumber.FromInteger(42), tracker.SafeCheckpoint);
    }

    [Fact]
    public void Out_of_order_completion_holds_the_checkpoint_at_the_oldest_incomplete_record()
    {
        var tracker = new CheckpointTracker(SequenceNumber.None);
        long[] tokens = [.. Enumerable.Range(1, 5).Select(i => tracker.Register(SequenceNumber.FromInteger((ulong)i)))];
        tracker.Complete(tokens[4]);
        tracker.Complete(tokens[1]);
        Assert.True(tracker.SafeCheckpoint.IsNone);
        tracker.Complete(tokens[0]);
        Assert.Equal(SequenceNumber.FromInteger(2), tracker.SafeCheckpoint);
        tracker.Complete(tokens[2]);
        Assert.Equal(SequenceNumber.FromInteger(3), tracker.SafeCheckpoint);
        tracker.Complete(tokens[3]);
        Assert.Equal(SequenceNumber.FromInteger(5), tracker.SafeCheckpoint);
        Assert.Equal(0, tracker.PendingCount);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Never_passes_an_incomplete_record_across_random_completion_orders(int seed)
    {
        // Property: after every operation, the safe checkpoint is exactly the position of the last record of the
        // longest fully complete prefix; so it never passes an incomplete record and never lags a complete prefix.
        var random = new Random(seed);
        var tracker = new CheckpointTracker(SequenceNumber.None, initialCapacity: 1);
        var registered = new List<(ulong Position, long Token)>();
        var complete = new List<bool>();
        var open = new List<int>();
        ulong next = 1;
        for (int step = 0; step < 20_000; step++)
        {
            if (open.Count == 0 || (random.NextDouble() < 0.55 && open.Count < 500))
            {
                next += (ulong)random.Next(1, 1000);
                long token = tracker.Register(SequenceNumber.FromInteger(next));
                registered.Add((next, token));
                complete.Add(false);
                open.Add(registered.Count - 1);
            }
            else
            {
                int pick = random.Next(open.Count);
                int index = open[pick];
                open[pick] = open[^1];
                open.RemoveAt(open.Count - 1);
                tracker.Complete(registered[index].Token);
                complete[index] = true;
            }

            int prefix = complete.IndexOf(false);
            SequenceNumber expected = prefix == 0 ? SequenceNumber.None
                : SequenceNumber.FromInteger(registered[(prefix < 0 ? registered.Count : prefix) - 1].Position);
            Assert.Equal(expected, tracker.SafeCheckpoint);
            Assert.Equal(open.Count, tracker.PendingCount);
        }
    }

    [Fact]
    public void Memory_follows_records_in_flight_not_the_distance_to_the_checkpoint()
    {
        var tracker = new CheckpointTracker(SequenceNumber.None, initialCapacity: 4);
        long stuck = tracker.Register(SequenceNumber.FromInteger(1));
        for (ulong i = 2; i < 100_000; i++)
        {
            tracker.Complete(tracker.Register(SequenceNumber.FromInteger(i)));
        }

        Assert.Equal(1, tracker.PendingCount);
        Assert.True(tracker.SafeCheckpoint.IsNone);
        tracker.Complete(stuck);
        Assert.Equal(SequenceNumber.FromInteger(99_999), tracker.SafeCheckpoint);
        Assert.Equal(99_999, tracker.Snapshot().CoveredCount);
    }

    [Fact]
    public void Rejects_registration_out_of_sequence_order()
    {
        var tracker = new CheckpointTracker(SequenceNumber.FromInteger(10));
        ArgumentException error = Assert.Throws<ArgumentException>(() => tracker.Register(SequenceNumber.FromInteger(10)));
        Assert.Contains("sequence order", error.Message);
        tracker.Register(new SequenceNumber("11", 0));
        tracker.Register(new SequenceNumber("11", 1));
        Assert.Throws<ArgumentException>(() => tracker.Register(new SequenceNumber("11", 1)));
    }

    [Fact]
    public void Rejects_completing_twice_even_after_the_slot_is_reused()
    {
        var tracker = new CheckpointTracker(SequenceNumber.None, initialCapacity: 1);
        long first = tracker.Register(SequenceNumber.FromInteger(1));
        tracker.Complete(first);
        Assert.Throws<InvalidOperationException>(() => tracker.Complete(first));
        long second = tracker.Register(SequenceNumber.FromInteger(2));
        Assert.Throws<InvalidOperationException>(() => tracker.Complete(first));
        tracker.Complete(second);
    }

    [Fact]
    public void Is_safe_under_concurrent_completion()
    {
        var tracker = new CheckpointTracker(SequenceNumber.None);
        long[] tokens = [.. Enumerable.Range(1, 100_000).Select(i => tracker.Register(SequenceNumber.FromInteger((ulong)i)))];
        Parallel.ForEach(tokens.Reverse(), new ParallelOptions { MaxDegreeOfParallelism = 4 }, tracker.Complete);
        Assert.Equal(SequenceNumber.FromInteger(100_000), tracker.SafeCheckpoint);
        Assert.Equal(0, tracker.PendingCount);
    }

    [Fact]
    public async Task A_shared_lock_guards_the_tracker_for_its_owner_and_is_taken_again_by_its_operations()
    {
        var shared = new Lock();
        var tracker = new CheckpointTracker(SequenceNumber.None, shared);
        long token;
        lock (shared)
        {
            // The owner registers while holding its own lock (as a shard does when it queues a record).
            token = tracker.Register(SequenceNumber.FromInteger(1));
        }

        Task<SequenceNumber> snapshot;
        lock (shared)
        {
            // Another thread's read waits for the owner's lock: the tracker has no lock of its own.
            using var reading = new ManualResetEventSlim();
            snapshot = Task.Run(() =>
            {
                reading.Set();
                return tracker.SafeCheckpoint;
            });
            Assert.True(reading.Wait(TimeSpan.FromSeconds(30)), "the reader did not start");
            Assert.False(SpinWait.SpinUntil(() => snapshot.IsCompleted, TimeSpan.FromMilliseconds(200)), "the tracker was read while its owner held the shared lock");
            tracker.Complete(token);
        }

        Assert.Equal(SequenceNumber.FromInteger(1), await snapshot.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, tracker.PendingCount);
    }
}
