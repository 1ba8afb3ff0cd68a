using System.Diagnostics;
using System.Runtime.InteropServices;

namespace StreamLanes.Benchmarks.Harness;

/// <summary>
/// Completes asynchronous waits after a fixed delay (1 ms for the scenario handlers) with sub-millisecond accuracy.
/// </summary>
/// <remarks>
/// <c>await Task.Delay(1)</c> is too coarse here: the runtime's timer queue runs on <c>Environment.TickCount64</c>,
/// which on Linux follows the coarse monotonic clock (one kernel tick, 4 ms at HZ=250), and measured 4.4 ms median
/// for a 1 ms delay on this machine. This timer keeps waits in FIFO order (one fixed delay, so FIFO is deadline order)
/// and lets a dedicated thread sleep with <c>usleep</c> until the next deadline, then completes every due wait
/// (continuations run on the thread pool, never on the timer thread). A wait never completes early; it completes
/// about 0.1 ms late (the kernel's wake-up latency), which <see cref="CalibrateAsync"/> measures and the harness prints.
/// </remarks>
internal sealed partial class FixedDelayTimer : IDisposable
{
    // A monitor rather than a Lock: the timer thread waits on it (Monitor.Wait) while no wait is pending.
    private readonly object _gate = new();
    private readonly Queue<(long Deadline, TaskCompletionSource Completion)> _waits = new();
    private readonly long _delayTicks;
    private readonly Thread _thread;
    private bool _disposed;

    public FixedDelayTimer(TimeSpan delay)
    {
        Delay = delay;
        _delayTicks = (long)(delay.TotalSeconds * Stopwatch.Frequency);
        _thread = new Thread(Run) { IsBackground = true, Name = "FixedDelayTimer", Priority = ThreadPriority.AboveNormal };
        _thread.Start();
    }

    public TimeSpan Delay { get; }

    public Task WaitAsync()
    {
        var completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            // Every wait has the same delay, so a later wait never has an earlier deadline: the sleeping timer thread
            // needs waking only when the queue was empty.
            _waits.Enqueue((Stopwatch.GetTimestamp() + _delayTicks, completion));
            if (_waits.Count == 1)
            {
                Monitor.Pulse(_gate);
            }
        }

        return completion.Task;
    }

    /// <summary>Measures the achieved delay: median and 99th percentile in milliseconds, one wait at a time and 256 concurrent.</summary>
    public async Task<string> CalibrateAsync()
    {
        static async Task<List<double>> MeasureAsync(FixedDelayTimer timer, int concurrency, TimeSpan duration)
        {
            var samples = new List<double>[concurrency];
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async worker =>
            {
                samples[worker] = [];
                while (clock.Elapsed < duration)
                {
                    long start = Stopwatch.GetTimestamp();
                    await timer.WaitAsync().ConfigureAwait(false);
                    samples[worker].Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
            })).ConfigureAwait(false);
            return [.. samples.SelectMany(static list => list)];
        }

        List<double> single = await MeasureAsync(this, 1, TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        List<double> many = await MeasureAsync(this, 256, TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        return $"{Delay.TotalMilliseconds:F0} ms wait measured: p50 {Percentiles.Of(single, 0.5):F3} ms / p99 {Percentiles.Of(single, 0.99):F3} ms one at a time; "
            + $"p50 {Percentiles.Of(many, 0.5):F3} ms / p99 {Percentiles.Of(many, 0.99):F3} ms with 256 concurrent ({many.Count / 1.0:N0} waits/s)";
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            Monitor.Pulse(_gate);
        }

        _thread.Join();
    }

    private void Run()
    {
        var due = new List<TaskCompletionSource>();
        while (true)
        {
            long next;
            lock (_gate)
            {
                while (_waits.Count == 0 && !_disposed)
                {
                    Monitor.Wait(_gate);
                }

                if (_disposed)
                {
                    return;
                }

                long now = Stopwatch.GetTimestamp();
                while (_waits.TryPeek(out (long Deadline, TaskCompletionSource Completion) head) && head.Deadline <= now)
                {
                    due.Add(_waits.Dequeue().Completion);
                }

                next = _waits.TryPeek(out (long Deadline, TaskCompletionSource Completion) first) ? first.Deadline - now : 0;
            }

            foreach (TaskCompletionSource completion in due)
            {
                completion.TrySetResult();
            }

            due.Clear();
            if (next > 0)
            {
                // usleep overshoots by about 0.1 ms: aim that much early, and check again.
                long micros = next * 1_000_000 / Stopwatch.Frequency;
                SleepMicroseconds((uint)Math.Clamp(micros - 80, 50, 1_000));
            }
        }
    }

    private static void SleepMicroseconds(uint microseconds)
    {
        if (OperatingSystem.IsWindows())
        {
            Thread.Sleep(1);
        }
        else
        {
            _ = usleep(microseconds);
        }
    }

    [LibraryImport("libc", EntryPoint = "usleep")]
    private static partial int usleep(uint microseconds);
}
