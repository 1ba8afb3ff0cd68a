using Microsoft.Extensions.Options;

namespace StreamLanes;

internal sealed class StreamConsumerOptionsValidator : IValidateOptions<StreamConsumerOptions>
{
    private static readonly TimeSpan OneHour = TimeSpan.FromHours(1);
    private static readonly TimeSpan OneDay = TimeSpan.FromDays(1);

    public ValidateOptionsResult Validate(string? name, StreamConsumerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        string prefix = $"{StreamConsumerOptions.ConfigurationSection}:{name}:";

        void Check(bool valid, string option, string rule, object? value)
        {
            if (!valid)
            {
                failures.Add($"{prefix}{option} {rule}; it was {value ?? "null"}.");
            }
        }

        Check(options.MaxConcurrentHandlers is >= 1 and <= 100_000, nameof(options.MaxConcurrentHandlers), "must be between 1 and 100000", options.MaxConcurrentHandlers);
        Check(options.MaxBufferedRecordsPerShard is >= 1 and <= 10_000_000, nameof(options.MaxBufferedRecordsPerShard), "must be between 1 and 10000000", options.MaxBufferedRecordsPerShard);
        Check(options.MaxBufferedRecords >= options.MaxBufferedRecordsPerShard && options.MaxBufferedRecords <= 100_000_000, nameof(options.MaxBufferedRecords), $"must be at least MaxBufferedRecordsPerShard ({options.MaxBufferedRecordsPerShard}) and at most 100000000", options.MaxBufferedRecords);
        Check(options.MaxAttempts is >= 1 and <= 1000, nameof(options.MaxAttempts), "must be between 1 and 1000", options.MaxAttempts);
        Check(options.RetryBaseDelay >= TimeSpan.Zero && options.RetryBaseDelay <= OneHour, nameof(options.RetryBaseDelay), "must be between 00:00:00 and 01:00:00", options.RetryBaseDelay);
        Check(options.RetryMaxDelay >= options.RetryBaseDelay && options.RetryMaxDelay <= OneDay, nameof(options.RetryMaxDelay), $"must be at least RetryBaseDelay ({options.RetryBaseDelay}) and at most 1.00:00:00", options.RetryMaxDelay);
        Check(Enum.IsDefined(options.RetryBackoff), nameof(options.RetryBackoff), "must be Constant, Linear or Exponential", options.RetryBackoff);
        Check(options.AttemptTimeout is null || (options.AttemptTimeout >= TimeSpan.FromMilliseconds(10) && options.AttemptTimeout <= OneDay), nameof(options.AttemptTimeout), "must be null or between 00:00:00.010 and 1.00:00:00", options.AttemptTimeout);
        Check(Enum.IsDefined(options.FailureMode), nameof(options.FailureMode), "must be DeadLetterAndContinue, ParkKey or RetryUntilSuccess", options.FailureMode);
        Check(options.MaxRecordAge is null || (options.MaxRecordAge >= TimeSpan.FromSeconds(1) && options.MaxRecordAge <= TimeSpan.FromDays(365)), nameof(options.MaxRecordAge), "must be null or between 00:00:01 and 365.00:00:00", options.MaxRecordAge);
        Check(options.MaxKeyStateBytes is >= 0 and <= 65_536, nameof(options.MaxKeyStateBytes), "must be between 0 and 65536", options.MaxKeyStateBytes);
        Check(options.CheckpointInterval >= TimeSpan.FromMilliseconds(10) && options.CheckpointInterval <= OneHour, nameof(options.CheckpointInterval), "must be between 00:00:00.010 and 01:00:00", options.CheckpointInterval);
        Check(options.DrainTimeout >= TimeSpan.Zero && options.DrainTimeout <= OneHour, nameof(options.DrainTimeout), "must be between 00:00:00 and 01:00:00", options.DrainTimeout);
        Check(options.SinkRetryBaseDelay >= TimeSpan.FromMilliseconds(1) && options.SinkRetryBaseDelay <= OneHour, nameof(options.SinkRetryBaseDelay), "must be between 00:00:00.001 and 01:00:00", options.SinkRetryBaseDelay);
        Check(options.SinkRetryMaxDelay >= options.SinkRetryBaseDelay && options.SinkRetryMaxDelay <= OneDay, nameof(options.SinkRetryMaxDelay), $"must be at least SinkRetryBaseDelay ({options.SinkRetryBaseDelay}) and at most 1.00:00:00", options.SinkRetryMaxDelay);
        Check(options.SinkFailuresBeforeUnhealthy >= 1, nameof(options.SinkFailuresBeforeUnhealthy), "must be at least 1", options.SinkFailuresBeforeUnhealthy);
        Check(options.MaxCheckpointAge >= options.CheckpointInterval, nameof(options.MaxCheckpointAge), $"must be at least CheckpointInterval ({options.CheckpointInterval})", options.MaxCheckpointAge);
        Check(!string.IsNullOrWhiteSpace(options.DataDirectory), nameof(options.DataDirectory), "must not be empty", options.DataDirectory);

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
