using Microsoft.Extensions.Logging;

namespace StreamLanes.Aws;

// Only service, operation, error codes and timings are logged: never credentials, headers or payloads.
internal static partial class AwsLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "Retrying {Service}.{Operation} after {Error} (retry {Retry} of {MaxRetries}) in {DelayMs} ms")]
    public static partial void RetryingAfterError(ILogger logger, string service, string operation, string error, int retry, int maxRetries, long delayMs);

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug,
        Message = "{Service}.{Operation} failed with {ErrorCode} (HTTP {StatusCode}, kind {Kind})")]
    public static partial void ServiceError(ILogger logger, string service, string operation, string errorCode, int statusCode, AwsErrorKind kind);

    [LoggerMessage(EventId = 3, Level = LogLevel.Debug,
        Message = "Resolved AWS credentials from the default chain ({CredentialsType})")]
    public static partial void CredentialsResolved(ILogger logger, string credentialsType);
}
