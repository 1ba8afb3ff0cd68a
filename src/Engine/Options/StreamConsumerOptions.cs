namespace StreamLanes;

/// <summary>
/// A stream consumer's settings, bound from configuration section <c>StreamConsumers:&lt;name&gt;</c> and validated
/// at start-up; an invalid value stops the host with a message naming the option and the rule.
/// </summary>
[RenamedOption("RetryBaseDelay", "Retry:InitialDelay")]
[RenamedOption("RetryMaxDelay", "Retry:MaxDelay")]
[RenamedOption("SinkRetryBaseDelay", "SinkRetry:InitialDelay")]
[RenamedOption("SinkRetryMaxDelay", "SinkRetry:MaxDelay")]
public sealed class StreamConsumerOptions
{
    /// <summary>The configuration section that holds one sub-section per consumer: <c>StreamConsumers</c>.</summary>
    public const string ConfigurationSection = "StreamConsumers";

    /// <summary>
    /// The most handler calls running at once across all keys and shards of this consumer. Default 64; 1 to 100,000.
    /// A record waiting for its retry back-off does not hold one.
    /// </summary>
    public int MaxConcurrentHandlers { get; set; } = 64;

    /// <summary>
    /// The most records read but not yet complete per shard; reading from the shard pauses at this bound.
    /// Default 10,000; 1 to 10,000,000.
    /// </summary>
    public int MaxBufferedRecordsPerShard { get; set; } = 10_000;

    /// <summary>The most records read but not yet complete across all shards of this consumer. Default 100,000; at least <see cref="MaxBufferedRecordsPerShard"/>.</summary>
    public int MaxBufferedRecords { get; set; } = 100_000;

    /// <summary>Attempts per record, the first included, before it is dead-lettered. Default 5; 1 to 1,000. Ignored by <see cref="KeyFailureMode.RetryUntilSuccess"/>.</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>
    /// The delays between a record's attempts (keys <c>Retry:InitialDelay</c> and <c>Retry:MaxDelay</c>, formerly
    /// <c>RetryBaseDelay</c> and <c>RetryMaxDelay</c>): the first retry waits <see cref="BackoffOptions.InitialDelay"/>
    /// (default 200 ms; 0 to 1 hour), later ones grow as <see cref="RetryBackoff"/> says up to
    /// <see cref="BackoffOptions.MaxDelay"/> (default 30 s; at least the initial delay, at most 1 day).
    /// </summary>
    public BackoffOptions Retry { get; set; } = BackoffOptions.Of(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(30));

    /// <summary>How retry delays grow. Default <see cref="RetryBackoff.Exponential"/>.</summary>
    public RetryBackoff RetryBackoff { get; set; } = RetryBackoff.Exponential;

    /// <summary>Whether retry delays are randomized (decorrelated jitter) so that keys failing together do not retry together. Default true.</summary>
    public bool RetryJitter { get; set; } = true;

    /// <summary>
    /// How long one handler call may take before its cancellation token is signalled and the attempt counts as
    /// failed (recorded as a Polly <c>TimeoutRejectedException</c>). Default 60 s; null disables it; otherwise 10 ms
    /// to 1 day. One timer per consumer checks running calls every twentieth of this value (5 ms to 500 ms) instead of
    /// a timer per call, so the token is signalled between the timeout and the timeout plus two such ticks
    /// (60 s: within 61 s).
    /// </summary>
    public TimeSpan? AttemptTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>What happens to a key when one of its records finally fails. Default <see cref="KeyFailureMode.DeadLetterAndContinue"/>.</summary>
    public KeyFailureMode FailureMode { get; set; } = KeyFailureMode.DeadLetterAndContinue;

    /// <summary>
    /// Records whose arrival time is older than this are dead-lettered with reason <c>RecordTooOld</c> instead of
    /// (further) attempts. Set it below the stream's retention so nothing expires unseen. Default null (no limit);
    /// otherwise 1 s to 365 days.
    /// </summary>
    public TimeSpan? MaxRecordAge { get; set; }

    /// <summary>
    /// The most bytes a shard's key state may take in its checkpoint. The key state is saved in the same write as the
    /// checkpoint (an extra attribute of the lease item, or beside the checkpoint in the file or in-memory store) and
    /// holds the shard's parked keys and, while some keys lag behind others, the incomplete set: the furthest record
    /// read plus each lagging key's first incomplete record (about 20 to 23 bytes per key with Kinesis sequence numbers), so that after a restart or
    /// a lease move only the records not yet complete are handled again. When the state would exceed this bound, the
    /// incomplete set is left out (the records after the checkpoint are then all handled again, as without it) and the
    /// metric <c>streamlanes.keystate.oversize</c> counts it; parked keys are always kept. Default 8,192 (about 350
    /// lagging keys); 0 turns the incomplete set off; at most 65,536.
    /// </summary>
    public int MaxKeyStateBytes { get; set; } = 8192;

    /// <summary>How often each shard's safe checkpoint is saved. Default 5 s; 10 ms to 1 hour.</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// On graceful stop, how long to wait for buffered records to finish before cancelling handlers and writing the
    /// final checkpoint. Default 30 s; 0 to 1 hour.
    /// </summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The delays between the retries of a failed dead-letter write, which go on until the sink accepts (keys
    /// <c>SinkRetry:InitialDelay</c> and <c>SinkRetry:MaxDelay</c>, formerly <c>SinkRetryBaseDelay</c> and
    /// <c>SinkRetryMaxDelay</c>): the first waits about <see cref="BackoffOptions.InitialDelay"/> (default 1 s; 1 ms to
    /// 1 hour), each next one doubles up to <see cref="BackoffOptions.MaxDelay"/> (default 30 s; at most 1 day).
    /// </summary>
    public BackoffOptions SinkRetry { get; set; } = BackoffOptions.Of(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));

    /// <summary>Consecutive dead-letter write failures after which the health check reports unhealthy. Default 3; at least 1.</summary>
    public int SinkFailuresBeforeUnhealthy { get; set; } = 3;

    /// <summary>
    /// The health check reports unhealthy when records are waiting for a checkpoint and none has been saved for
    /// this long. Default 5 minutes; at least <see cref="CheckpointInterval"/>.
    /// </summary>
    public TimeSpan MaxCheckpointAge { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Where the embedded defaults keep their files: checkpoints in <c>checkpoints/</c> and dead letters in
    /// <c>dead-letters/&lt;consumer&gt;.jsonl</c>. Default <c>streamlanes-data</c> (relative to the current directory).
    /// </summary>
    public string DataDirectory { get; set; } = "streamlanes-data";

    /// <summary>Whether each handler call gets its own dependency-injection scope (for scoped services such as a DbContext). Default false: one handler instance per consumer.</summary>
    public bool CreateScopePerRecord { get; set; }
}
