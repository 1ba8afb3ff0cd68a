using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using StreamLanes.Checkpointing;

namespace StreamLanes.DynamoDb;

/// <summary>
/// Keeps this worker's leases: renews each held lease, gives up one it could not renew for two thirds of the failover
/// time (so it has stopped before any other worker can take it), hands a fenced one to the listener as lost, and
/// releases leases on request.
/// </summary>
internal sealed class LeaseRenewer(
    ILeaseTable table,
    ConcurrentDictionary<string, HeldLease> held,
    string workerId,
    TimeSpan failoverTime,
    ILeaseListener listener,
    TimeProvider time,
    ILogger logger)
{
    private readonly List<Task> _handoffs = [];

    public TimeSpan RenewInterval => failoverTime / 3;

    /// <summary>Renews every held lease once; a lease another worker took is lost, a transient failure retried next round.</summary>
    public async Task RenewRoundAsync(CancellationToken cancellationToken)
    {
        long now = time.GetTimestamp();
        TimeSpan giveUpAfter = failoverTime - RenewInterval;
        await Task.WhenAll(held.Values.Select(async lease =>
        {
            if (time.GetElapsedTime(lease.LastRenewedTimestamp, now) > giveUpAfter)
            {
                await LoseAsync(lease, $"not renewed for {giveUpAfter}; giving it up before another worker can take it").ConfigureAwait(false);
                return;
            }

            try
            {
                await lease.RenewAsync(now, cancellationToken).ConfigureAwait(false);
                if (lease.Current.HandoffTo is { } to && to != workerId && lease.TryBeginHandoff())
                {
                    // The leader asked for the lease to move: hand it over beside the renewals, which keep it ours
                    // while the shard drains.
                    Track(HandOffAsync(lease, to, cancellationToken));
                }
            }
            catch (CheckpointFencedException)
            {
                await LoseAsync(lease, "another worker took it").ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // Transient (throttling, network): the next round retries, and the elapsed-time check above gives the
                // lease up if renewals keep failing.
                LeaseLog.RoundFailed(logger, ex, workerId, table.TableName);
            }
        })).ConfigureAwait(false);
    }

    /// <summary>Waits for the hand-offs under way (they end when the round's token is cancelled).</summary>
    public Task WhenHandoffsEndAsync()
    {
        lock (_handoffs)
        {
            return Task.WhenAll([.. _handoffs]);
        }
    }

    /// <summary>
    /// The graceful hand-off: the listener stops reading the shard, lets what is in flight finish and checkpoints what
    /// is complete; then the lease is given to <paramref name="to"/> with a write fenced like a checkpoint, so the new
    /// owner resumes exactly after the records this worker finished.
    /// </summary>
    private async Task HandOffAsync(HeldLease lease, string to, CancellationToken cancellationToken)
    {
        try
        {
            await listener.OnLeaseHandoffAsync(lease, cancellationToken).ConfigureAwait(false);
            await lease.HandOverAsync(to, cancellationToken).ConfigureAwait(false);
            held.TryRemove(new KeyValuePair<string, HeldLease>(lease.ShardId, lease));
            lease.MarkLost();
            LeaseLog.LeaseHandedOver(logger, workerId, lease.ShardId, lease.Current.Owner ?? to);
        }
        catch (CheckpointFencedException)
        {
            // Taken meanwhile (the leader forced the move, or the lease expired): the shard has stopped already.
            held.TryRemove(new KeyValuePair<string, HeldLease>(lease.ShardId, lease));
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The shard may have stopped: stop renewing so that the lease expires and the leader assigns it again.
            LeaseLog.HandoffFailed(logger, ex, workerId, lease.ShardId);
            await LoseAsync(lease, "the hand-off failed").ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Track(Task handoff)
    {
        lock (_handoffs)
        {
            _handoffs.RemoveAll(task => task.IsCompleted);
            _handoffs.Add(handoff);
        }
    }

    /// <summary>Gives a held lease up: this worker may still hold it, so the listener stops the shard without checkpointing.</summary>
    public async Task LoseAsync(HeldLease lease, string reason)
    {
        if (held.TryRemove(new KeyValuePair<string, HeldLease>(lease.ShardId, lease)))
        {
            lease.MarkLost();
            LeaseLog.LeaseLost(logger, workerId, lease.ShardId, reason);
            await listener.OnLeaseLostAsync(lease).ConfigureAwait(false);
        }
    }

    /// <summary>Releases one lease so that another worker can take it at once; failures are logged (it then expires).</summary>
    public async Task ReleaseAsync(HeldLease lease, CancellationToken cancellationToken)
    {
        try
        {
            await lease.ReleaseAsync(cancellationToken).ConfigureAwait(false);
            lease.MarkLost();
            LeaseLog.LeaseReleased(logger, workerId, lease.ShardId);
        }
        catch (CheckpointFencedException)
        {
            // Stolen or taken over since this worker's last renewal: nothing left to give up.
            LeaseLog.ReleaseNotNeeded(logger, workerId, lease.ShardId);
        }
        catch (Exception ex)
        {
            LeaseLog.ReleaseFailed(logger, ex, workerId, lease.ShardId);
        }
    }
}
