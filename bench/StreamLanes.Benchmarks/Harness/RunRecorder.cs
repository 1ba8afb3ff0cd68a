using System.Diagnostics;

namespace StreamLanes.Benchmarks.Harness;

/// <summary>
/// What happened to each record of a scenario run, indexed by the record id carried in its payload: when it was put,
/// its key, when it was handled. Arrays sized up front so recording costs a store, not an allocation.
/// </summary>
internal sealed class RunRecorder(int capacity)
{
    private int _count;
    private int _completed;

    public long[] PutTicks { get; } = new long[capacity];

    public long[] DoneTicks { get; } = new long[capacity];

    public int[] KeyIndex { get; } = new int[capacity];

    /// <summary>The id of the record that fails every attempt; -1 when none.</summary>
    public int PoisonId { get; set; } = -1;

    public long PoisonFirstAttemptTicks { get; set; }

    public long PoisonDeadLetteredTicks { get; set; }

    public long StartTicks { get; set; }

    /// <summary>Records put so far (written by the single producer).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Records handled or dead-lettered so far.</summary>
    public int Completed => Volatile.Read(ref _completed);

    public int Next(int keyIndex)
    {
        int id = _count;
        KeyIndex[id] = keyIndex;
        PutTicks[id] = Stopwatch.GetTimestamp();
        Volatile.Write(ref _count, id + 1);
        return id;
    }

    public void Handled(int id)
    {
        DoneTicks[id] = Stopwatch.GetTimestamp();
        Interlocked.Increment(ref _completed);
    }

    public void DeadLettered(int id)
    {
        if (id == PoisonId)
        {
            PoisonDeadLetteredTicks = Stopwatch.GetTimestamp();
        }

        Interlocked.Increment(ref _completed);
    }

    public double Seconds(long ticks) => (double)(ticks - StartTicks) / Stopwatch.Frequency;
}
