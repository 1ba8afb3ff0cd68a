using Microsoft.Extensions.Logging;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>
/// Saves the consumer's shard checkpoints every <c>CheckpointInterval</c> and once more at stop. A shard whose save
/// is fenced (its lease moved to another worker) is abandoned: its records stay incomplete for the new owner.
/// </summary>
internal sealed class CheckpointScheduler(
    string consumer,
    TimeSpan interval,
    Func<ICollection<ShardProcessor>> shards,
    TimeProvider timeProvider,
    ILogger logger) : IDisposable
{
    private CancellationTokenSource? _stop;
    private Task? _loop;
    private long _rounds;

    /// <summary>Rounds of the periodic loop completed: lets a test wait for "several intervals passed" without sleeping.</summary>
    public long Rounds => Interlocked.Read(ref _rounds);

    public void Start()
    {
        _stop = new CancellationTokenSource();
        CancellationToken token = _stop.Token;
        _loop = Task.Run(() => LoopAsync(token), CancellationToken.None);
    }

    /// <summary>Ends the periodic loop (a save in progress is cancelled); the caller then saves the final checkpoints.</summary>
    public async Task StopAsync()
    {
        if (_stop is not null)
        {
            await _stop.CancelAsync().ConfigureAwait(false);
            await _loop!.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Saves every open shard's safe checkpoint if it moved; a failure is logged and retried next round.</summary>
    public async Task CheckpointAllAsync(CancellationToken cancellationToken)
    {
        foreach (ShardProcessor shard in shards())
        {
            try
            {
                if (!await shard.CheckpointAsync(cancellationToken).ConfigureAwait(false))
                {
                    await shard.AbandonAsync().ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Log.CheckpointFailed(logger, SafeText.ForLog(ex), consumer, SafeText.Escape(shard.ShardId));
            }
        }
    }

    public void Dispose() => _stop?.Dispose();

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval, timeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                await CheckpointAllAsync(cancellationToken).ConfigureAwait(false);
                foreach (ShardProcessor shard in shards())
                {
                    shard.TrimIdleLanes();
                }

                Interlocked.Increment(ref _rounds);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }
}
