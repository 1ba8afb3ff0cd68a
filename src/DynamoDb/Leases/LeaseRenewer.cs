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
