namespace StreamLanes.Sinks;

/// <summary>One failed attempt to handle a dead-lettered record.</summary>
public sealed record DeadLetterAttempt
{
    /// <summary>The attempt number, from 1.</summary>
    public required int Attempt { get; init; }

    /// <summary>When the attempt started.</summary>
    public required DateTimeOffset StartedAt { get; init; }

    /// <summary>When the attempt failed.</summary>
    public required DateTimeOffset FailedAt { get; init; }

    /// <summary>The full name of the exception's type.</summary>
    public required string ExceptionType { get; init; }

    /// <summary>The exception's message.</summary>
    public required string Message { get; init; }

    /// <summary>The exception's stack trace, trimmed to a bounded length; inner exceptions are appended.</summary>
    public string? StackTrace { get; init; }

    /// <summary>The maximum length kept of a stack trace: 4,096 characters.</summary>
    public const int MaxStackTraceLength = 4096;

    /// <summary>Describes a failed attempt from its exception.</summary>
    /// <param name="attempt">The attempt number, from 1.</param>
    /// <param name="startedAt">When the attempt started.</param>
    /// <param name="failedAt">When it failed.</param>
    /// <param name="exception">The failure.</param>
    /// <returns>The attempt.</returns>
    public static DeadLetterAttempt FromException(int attempt, DateTimeOffset startedAt, DateTimeOffset failedAt, Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        string? trace = exception.ToString();
        if (trace.Length > MaxStackTraceLength)
        {
            trace = string.Concat(trace.AsSpan(0, MaxStackTraceLength), "…");
        }

        return new DeadLetterAttempt
        {
            Attempt = attempt,
            StartedAt = startedAt,
            FailedAt = failedAt,
            ExceptionType = exception.GetType().FullName ?? exception.GetType().Name,
            Message = exception.Message,
            StackTrace = trace,
        };
    }
}
