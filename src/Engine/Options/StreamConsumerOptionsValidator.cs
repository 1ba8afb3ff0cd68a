namespace StreamLanes;

/// <summary>The rules of <see cref="StreamConsumerOptions"/>, through the one validator every consumer options type has.</summary>
internal sealed class StreamConsumerOptionsValidator() : ConsumerOptionsValidator<StreamConsumerOptions>(null, Rules)
{
    private static readonly TimeSpan OneHour = TimeSpan.FromHours(1);
    private static readonly TimeSpan OneDay = TimeSpan.FromDays(1);

    /// <summary>The failures of <paramref name="options"/>, each starting with <paramref name="prefix"/> (<c>StreamConsumers:&lt;name&gt;:</c>).</summary>
    public static IReadOnlyList<string> Rules(StreamConsumerOptions options, string prefix)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();

        void Check(bool valid, string option, string rule, object? value)
        {
            if (!valid)
            {
                failures.Add($"{prefix}{option} {rule}; it was {value ?? "null"}.");
            }
        }

        void CheckBackoff(BackoffOptions? backoff, string option, TimeSpan minInitial)
        {
            if (backoff is null)
            {
                failures.Add($"{prefix}{option} must be set.");
                return;
            }

            backoff.Validate(failures, prefix, option, minInitial, OneHour, OneDay);
        }

        Check(options.MaxConcurrentHandlers is >= 1 and <= 100_000, nameof(options.MaxConcurrentHandlers), "must be between 1 and 100000", options.MaxConcurrentHandlers);
        Check(options.MaxBufferedRecordsPerShard is >= 1 and <= 10_000_000, nameof(options.MaxBufferedRecordsPerShard), "must be between 1 and 10000000", options.MaxBufferedRecordsPerShard);
        Check(options.MaxBufferedRecords >= options.MaxBufferedRecordsPerShard && options.MaxBufferedRecords <= 100_000_000, nameof(options.MaxBufferedRecords), $"must be at least MaxBufferedRecordsPerShard ({options.MaxBufferedRecordsPerShard}) and at most 100000000", options.MaxBufferedRecords);
        Check(options.MaxAttempts is >= 1 and <= 1000, nameof(options.MaxAttempts), "must be between 1 and 1000", options.MaxAttempts);
        CheckBackoff(options.Retry, nameof(options.Retry), TimeSpan.Zero);
        Check(Enum.IsDefined(options.RetryBackoff), nameof(options.RetryBackoff), "must be Constant, Linear or Exponential", options.RetryBackoff);
        Check(options.AttemptTimeout is null || (options.AttemptTimeout >= TimeSpan.FromMilliseconds(10) && options.AttemptTimeout <= OneDay), nameof(options.AttemptTimeout), "must be null or between 00:00:00.010 and 1.00:00:00", options.AttemptTimeout);
        Check(Enum.IsDefined(options.FailureMode), nameof(options.FailureMode), "must be DeadLetterAndContinue, ParkKey or RetryUntilSuccess", options.FailureMode);
        Check(options.MaxRecordAge is null || (options.MaxRecordAge >= TimeSpan.FromSeconds(1) && options.MaxRecordAge <= TimeSpan.FromDays(365)), nameof(options.MaxRecordAge), "must be null or between 00:00:01 and 365.00:00:00", options.MaxRecordAge);
        Check(options.MaxKeyStateBytes is >= 0 and <= 65_536, nameof(options.MaxKeyStateBytes), "must be between 0 and 65536", options.MaxKeyStateBytes);
        Check(options.CheckpointInterval >= TimeSpan.FromMilliseconds(10) && options.CheckpointInterval <= OneHour, nameof(options.CheckpointInterval), "must be between 00:00:00.010 and 01:00:00", options.CheckpointInterval);
        Check(options.DrainTimeout >= TimeSpan.Zero && options.DrainTimeout <= OneHour, nameof(options.DrainTimeout), "must be between 00:00:00 and 01:00:00", options.DrainTimeout);
        CheckBackoff(options.SinkRetry, nameof(options.SinkRetry), TimeSpan.FromMilliseconds(1));
        Check(options.SinkFailuresBeforeUnhealthy >= 1, nameof(options.SinkFailuresBeforeUnhealthy), "must be at least 1", options.SinkFailuresBeforeUnhealthy);
        Check(options.MaxCheckpointAge >= options.CheckpointInterval, nameof(options.MaxCheckpointAge), $"must be at least CheckpointInterval ({options.CheckpointInterval})", options.MaxCheckpointAge);
        Check(!string.IsNullOrWhiteSpace(options.DataDirectory), nameof(options.DataDirectory), "must not be empty", options.DataDirectory);

        return failures;
    }
}
