namespace StreamLanes.DynamoDb;

/// <summary>How a leased source stops a shard whose lease it hands over gracefully.</summary>
internal static class LeaseHandoff
{
    /// <summary>
    /// Stops reading the shard, lets the records already read finish for up to <paramref name="drainBound"/>, stops
    /// the rest (their handlers are cancelled and wait for the next owner), and checkpoints the safe position, so that
    /// the next owner resumes right after the records finished here and re-handles none of them.
    /// </summary>
    /// <param name="reader">The shard's reader.</param>
    /// <param name="drainBound">How long records in flight may take to finish (a third of the failover time).</param>
    /// <param name="time">The clock of the bound.</param>
    /// <param name="cancellationToken">Stops waiting (the coordinator stopped).</param>
    public static async Task StopShardAsync(LeasedShardSource.ShardReader reader, TimeSpan drainBound, TimeProvider time, CancellationToken cancellationToken)
    {
        await reader.HandingOff.CancelAsync().ConfigureAwait(false);
        await reader.Completion.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (reader.Processor is not ShardProcessor processor)
        {
            await reader.Processor.AbandonAsync().ConfigureAwait(false);
            return;
        }

        using (var bound = new CancellationTokenSource(drainBound, time))
        using (var draining = CancellationTokenSource.CreateLinkedTokenSource(bound.Token, cancellationToken))
        {
            try
            {
                await processor.WaitDrainedAsync(draining.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // A key still retrying: its records stay after the checkpoint and go to the next owner.
            }
        }

        await processor.StopPumpsAsync().ConfigureAwait(false);
        await processor.CheckpointAsync(cancellationToken).ConfigureAwait(false);
        processor.Runtime.OnShardClosed(processor);
    }
}
