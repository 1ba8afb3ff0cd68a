using Microsoft.Extensions.Logging;

namespace StreamLanes.DynamoDb;

internal static partial class LeaseLog
{
    [LoggerMessage(101, LogLevel.Information, "Worker {Worker} took the lease of shard {Shard} from {PreviousOwner} ({How}).")]
    public static partial void LeaseTaken(ILogger logger, string worker, string shard, string previousOwner, string how);

    [LoggerMessage(102, LogLevel.Warning, "Worker {Worker} lost the lease of shard {Shard}: {Reason}")]
    public static partial void LeaseLost(ILogger logger, string worker, string shard, string reason);

    [LoggerMessage(103, LogLevel.Information, "Worker {Worker} released the lease of shard {Shard}.")]
    public static partial void LeaseReleased(ILogger logger, string worker, string shard);

    [LoggerMessage(104, LogLevel.Information, "Lease table {Table}: created leases for new shards {Shards}.")]
    public static partial void LeasesCreated(ILogger logger, string table, string shards);

    [LoggerMessage(105, LogLevel.Warning, "Worker {Worker}: a lease round on table {Table} failed; it is retried at the next interval.")]
    public static partial void RoundFailed(ILogger logger, Exception exception, string worker, string table);

    [LoggerMessage(107, LogLevel.Information, "Lease table {Table}: shard {Parent} ended; created leases for its child shards {Shards}.")]
    public static partial void ChildLeasesCreated(ILogger logger, string table, string parent, string shards);

    [LoggerMessage(108, LogLevel.Information, "Worker {Worker}: the lease of shard {Shard} was already taken by another worker; nothing to release.")]
    public static partial void ReleaseNotNeeded(ILogger logger, string worker, string shard);

    [LoggerMessage(106, LogLevel.Warning, "Worker {Worker}: releasing the lease of shard {Shard} failed; it expires after the failover time instead.")]
    public static partial void ReleaseFailed(ILogger logger, Exception exception, string worker, string shard);

    [LoggerMessage(109, LogLevel.Information, "Worker {Worker} leads lease assignment on table {Table} (the lock was held by {PreviousLeader}).")]
    public static partial void BecameLeader(ILogger logger, string worker, string table, string previousLeader);

    [LoggerMessage(110, LogLevel.Information, "Worker {Worker} no longer leads lease assignment on table {Table}: {Reason}.")]
    public static partial void LeadershipLost(ILogger logger, string worker, string table, string reason);

    [LoggerMessage(111, LogLevel.Information, "Leader {Worker} assigned the lease of shard {Shard} to {Owner} (held by {PreviousOwner}).")]
    public static partial void LeaseAssigned(ILogger logger, string worker, string shard, string owner, string previousOwner);

    [LoggerMessage(112, LogLevel.Information, "Leader {Worker} asked {Owner} to hand the lease of shard {Shard} to {Receiver}.")]
    public static partial void HandoffRequested(ILogger logger, string worker, string shard, string owner, string receiver);

    [LoggerMessage(113, LogLevel.Information, "Worker {Worker} handed the lease of shard {Shard} to {Receiver} after checkpointing what it finished.")]
    public static partial void LeaseHandedOver(ILogger logger, string worker, string shard, string receiver);

    [LoggerMessage(114, LogLevel.Warning, "Worker {Worker}: handing the lease of shard {Shard} over failed; the shard is stopped and its lease expires after the failover time instead.")]
    public static partial void HandoffFailed(ILogger logger, Exception exception, string worker, string shard);
}
