using Microsoft.Extensions.Logging;
using StreamLanes.Checkpointing;

namespace StreamLanes.DynamoDb;

/// <summary>
/// Elects the one worker that assigns leases, through a lock item in the lease table (in the style of KCL 3.x's
/// lock-based leader decider): the leader bumps the lock's counter every renew interval; a worker that sees the counter
/// unchanged for the failover time, by its own clock, takes the lock with a write conditional on the counter it saw.
/// </summary>
/// <remarks>
/// A leader that could not renew the lock for two thirds of the failover time stops leading, so that it has stopped
/// before another worker can take the lock. Two leaders at once (a partition, a slow renewal) cost only refused writes:
/// every assignment is conditional on the lease's counter, so fencing never depends on there being one leader.
/// </remarks>
internal sealed class LeaderElector(ILeaseTable table, string workerId, string incarnation, TimeSpan failoverTime, TimeProvider time, ILogger logger)
{
    private LeaderLock? _held;
    private long _renewedAt;
    private LeaderLock? _seen;
    private long _seenSince;

    public bool IsLeader => Volatile.Read(ref _held) is not null;

    /// <summary>Whether the leader's lock has stood still for more than two renew intervals (it may be dying).</summary>
    public bool LeaderSilent => !IsLeader && _seen is not null && time.GetElapsedTime(_seenSince) > RenewInterval * 2;

    private TimeSpan RenewInterval => failoverTime / 3;

    /// <summary>Renews the lock when leading, else takes it when it is absent or expired.</summary>
    /// <returns>Whether this worker leads after the round.</returns>
    public async Task<bool> RoundAsync(CancellationToken cancellationToken)
    {
        long now = time.GetTimestamp();
        if (_held is { } held)
        {
            try
            {
                Volatile.Write(ref _held, await table.RenewLeaderAsync(held, cancellationToken).ConfigureAwait(false));
                _renewedAt = now;
                return true;
            }
            catch (LeaseLostException)
            {
                StepDown("another worker took the leader lock");
                return false;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LeaseLog.RoundFailed(logger, ex, workerId, table.TableName);
                if (time.GetElapsedTime(_renewedAt, now) > failoverTime - RenewInterval)
                {
                    StepDown($"the leader lock was not renewed for {failoverTime - RenewInterval}");
                }

                return IsLeader;
            }
        }

        LeaderLock? seen = await table.GetLeaderAsync(cancellationToken).ConfigureAwait(false);
        if (seen is not null && seen.Owner == workerId && seen.Incarnation == incarnation)
        {
            // This run's own lock, after a renewal that seemed to fail but was applied.
            Volatile.Write(ref _held, seen);
            _renewedAt = now;
            return true;
        }

        if (seen != _seen)
        {
            (_seen, _seenSince) = (seen, now);
        }

        if (seen is not null && time.GetElapsedTime(_seenSince, now) <= failoverTime)
        {
            return false;
        }

        try
        {
            Volatile.Write(ref _held, await table.AcquireLeaderAsync(seen, workerId, incarnation, cancellationToken).ConfigureAwait(false));
            _renewedAt = now;
            LeaseLog.BecameLeader(logger, workerId, table.TableName, seen?.Owner ?? "nobody");
            return true;
        }
        catch (LeaseLostException)
        {
            return false; // another worker was faster
        }
    }

    /// <summary>Gives the lock up (graceful stop), so another worker leads at its next round instead of after expiry.</summary>
    public async Task ReleaseAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _held, null) is not { } held)
        {
            return;
        }

        try
        {
            await table.ReleaseLeaderAsync(held, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is LeaseLostException || ex is not OperationCanceledException)
        {
            // Taken over already, or it expires instead.
            LeaseLog.RoundFailed(logger, ex, workerId, table.TableName);
        }
    }

    private void StepDown(string reason)
    {
        Volatile.Write(ref _held, null);
        LeaseLog.LeadershipLost(logger, workerId, table.TableName, reason);
    }
}
