using Microsoft.Extensions.Logging;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>The graceful stop (once, whoever asks first) and the reader faults that can trigger it.</summary>
internal sealed partial class StreamConsumerRuntime
{
    private readonly TaskCompletionSource _startCompleted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _selfStopRequested;
    private Task? _stop;

    public void ReportReaderFault(string shardId, Exception exception, bool fatal)
    {
        ArgumentNullException.ThrowIfNull(shardId);
        ArgumentNullException.ThrowIfNull(exception);
        if (!_health.ReaderFailed(shardId, exception, fatal))
        {
            return;
        }

        // Stopped from another task: the reporting reader must be free to return, since the stop waits for every reader.
        // A fault reported while the consumer is still starting stops it once the start has completed.
        if (Interlocked.Exchange(ref _selfStopRequested, 1) == 0)
        {
            _ = Task.Run(async () =>
            {
                await _startCompleted.Task.ConfigureAwait(false);
                await StopAsync(CancellationToken.None).ConfigureAwait(false);
            });
        }
    }

    public void ReportReaderRecovered(string shardId) => _health.ReaderRecovered(shardId);

    /// <summary>
    /// Stops once: the first caller (the host, or this consumer after a fatal reader fault) does the work, a later one
    /// waits for it, bounded by its own token. A failing part of the stop is logged, never thrown: an exception here
    /// fails the host's stop and crashes a process whose state was already saved as well as it could be.
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _stop, done.Task, null) is Task earlier)
        {
            return earlier.WaitAsync(cancellationToken).ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return StopAndCompleteAsync(done, cancellationToken);
    }

    private async Task StopAndCompleteAsync(TaskCompletionSource done, CancellationToken cancellationToken)
    {
        try
        {
            await StopOnceAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.StopFailed(Logger, SafeText.ForLog(ex), Name);
        }
        finally
        {
            done.TrySetResult();
        }
    }

    private async Task StopOnceAsync(CancellationToken cancellationToken)
    {
        if (!_running)
        {
            return;
        }

        _running = false;
        try
        {
            await _source.StopReadingAsync(cancellationToken).ConfigureAwait(false);
            await DrainAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Whatever is still running is cancelled; its records stay incomplete, below the final checkpoint.
            await Task.WhenAll(_shards.Values.Select(static shard => shard.StopPumpsAsync())).ConfigureAwait(false);
            await _checkpoints.StopAsync().ConfigureAwait(false);

            // The final checkpoint is written even when the host's stop token has fired: skipping it only costs
            // re-processing, but writing it keeps that to the minimum.
            using var finalCheckpointTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(10), TimeProvider);
            await _checkpoints.CheckpointAllAsync(finalCheckpointTimeout.Token).ConfigureAwait(false);

            // The release has a budget of its own, not what the checkpoint left of a shared one: an SQS source waits
            // here for its last long polls to return (up to its WaitTime after the stop began) so that no message is
            // left hidden. A cap, not a wait: leases are released in a few calls.
            using var releaseTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(30), TimeProvider);
            await _source.ReleaseAsync(releaseTimeout.Token).ConfigureAwait(false);
            await DeadLetterFileLock.ReleaseAsync(DeadLetterSink).ConfigureAwait(false);
            Counters.Instruments.Untrack(this);
            Log.ConsumerStopped(Logger, Name, BufferedCount);
        }
    }

    private async Task DrainAsync(CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_options.DrainTimeout, TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            await Task.WhenAll(_shards.Values.Select(shard => shard.WaitDrainedAsync(linked.Token))).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested || cancellationToken.IsCancellationRequested)
        {
            Log.DrainTimedOut(Logger, Name, _options.DrainTimeout, BufferedCount);
        }
    }
}
