namespace StreamLanes.DynamoDb;

/// <summary>
/// How workers share a stream's shards through a DynamoDB lease table in the Java Kinesis Client Library's shape: one
/// item per shard (<c>leaseKey</c>, <c>leaseOwner</c>, <c>leaseCounter</c>, <c>checkpoint</c>,
/// <c>checkpointSubSequenceNumber</c>, <c>ownerSwitchesSinceCheckpoint</c>, <c>parentShardId</c>,
/// <c>childShardIds</c>, <c>startingHashKey</c>, <c>endingHashKey</c>), every write conditional.
/// </summary>
public sealed class DynamoDbLeaseOptions
{
    /// <summary>The lease table; one per consumer and stream (KCL uses the application name). Required.</summary>
    public string TableName { get; set; } = "";

    /// <summary>
    /// This worker's identity in <c>leaseOwner</c>. It may stay the same across restarts (a pod or host name): a
    /// restarted process takes back the leases naming it at once and reads them one <see cref="FailoverTime"/> later,
    /// and of two processes running under one id the later one wins. Two different workers must never share it.
    /// Default: host name, process id and a random suffix.
    /// </summary>
    public string WorkerId { get; set; } = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>
    /// A lease not renewed for this long is expired and may be taken by another worker; leases are renewed every
    /// third of it, and a worker that could not renew for this long stops the shard itself. Default 10 s (KCL's);
    /// 1 s to 10 minutes.
    /// </summary>
    public TimeSpan FailoverTime { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How often the stream's shards are listed to create leases for new ones; the children of a shard read to its end
    /// get their leases at that moment regardless. Default 60 s (KCL's); 1 s to 1 hour.
    /// </summary>
    public TimeSpan ShardSyncInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The most leases this worker holds. Default: no limit.</summary>
    public int MaxLeasesPerWorker { get; set; } = int.MaxValue;

    /// <summary>
    /// The most leases taken from other live workers in one round to even out the count, where every worker balances for
    /// itself. Default 1 (KCL's). The elected leader, which balances by graceful hand-offs, moves what balance needs.
    /// </summary>
    public int MaxLeasesToStealAtOneTime { get; set; } = 1;

    /// <summary>Whether the table is created (on-demand capacity) when absent. Default true.</summary>
    public bool CreateTableIfMissing { get; set; } = true;

    /// <summary>
    /// How leases are shared: by default one elected leader assigns them (<see cref="LeaseProtocol.Leader"/>); the
    /// protocol of earlier versions, where every worker scans and takes, stays for comparison (benchmarks, tests).
    /// </summary>
    internal LeaseProtocol Protocol { get; set; } = LeaseProtocol.Leader;

    /// <summary>Checks the options, naming the option and the rule in the message.</summary>
    /// <param name="prefix">The configuration path of these options, for messages.</param>
    /// <returns>The failures; empty when valid.</returns>
    public IReadOnlyList<string> Validate(string prefix)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(TableName) || TableName.Length is < 3 or > 255 || !TableName.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
        {
            failures.Add($"{prefix}TableName must be 3 to 255 letters, digits, '_', '-' or '.'; it was '{TableName}'.");
        }

        if (string.IsNullOrWhiteSpace(WorkerId))
        {
            failures.Add($"{prefix}WorkerId must not be empty.");
        }

        if (FailoverTime < TimeSpan.FromSeconds(1) || FailoverTime > TimeSpan.FromMinutes(10))
        {
            failures.Add($"{prefix}FailoverTime must be between 00:00:01 and 00:10:00; it was {FailoverTime}.");
        }

        if (ShardSyncInterval < TimeSpan.FromSeconds(1) || ShardSyncInterval > TimeSpan.FromHours(1))
        {
            failures.Add($"{prefix}ShardSyncInterval must be between 00:00:01 and 01:00:00; it was {ShardSyncInterval}.");
        }

        if (MaxLeasesPerWorker < 1)
        {
            failures.Add($"{prefix}MaxLeasesPerWorker must be at least 1; it was {MaxLeasesPerWorker}.");
        }

        if (MaxLeasesToStealAtOneTime < 0)
        {
            failures.Add($"{prefix}MaxLeasesToStealAtOneTime must be at least 0; it was {MaxLeasesToStealAtOneTime}.");
        }

        return failures;
    }
}

/// <summary>How the workers of a lease table share its leases.</summary>
internal enum LeaseProtocol
{
    /// <summary>
    /// One worker, elected through a lock item, scans the table and assigns leases; the others read only their own
    /// leases through the owner index and announce themselves with a heartbeat item. Moves are graceful hand-offs.
    /// </summary>
    Leader,

    /// <summary>Every worker scans the whole table (strongly consistent) twice per renew interval and takes and steals itself.</summary>
    EveryWorkerTakes,
}
