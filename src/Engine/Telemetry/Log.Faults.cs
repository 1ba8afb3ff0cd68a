using Microsoft.Extensions.Logging;

namespace StreamLanes;

// Reader faults, stop failures and configuration warnings (event ids 30 to 39). Stream-supplied strings arrive escaped
// (SafeText); exceptions arrive through SafeText.ForLog.
internal static partial class Log
{
    [LoggerMessage(30, LogLevel.Error, "Consumer {Consumer}: the reader of shard {Shard} failed ({ExceptionType}, {Failures} consecutive failures); it retries with back-off and the consumer is unhealthy until a read succeeds.")]
    public static partial void ReaderFailed(ILogger logger, Exception exception, string consumer, string shard, string exceptionType, int failures);

    [LoggerMessage(31, LogLevel.Critical, "Consumer {Consumer}: the reader of shard {Shard} failed with {ExceptionType}, which retrying cannot heal; the consumer stops (drain, final checkpoints, release) and stays unhealthy until restarted.")]
    public static partial void ReaderFailedFatally(ILogger logger, Exception exception, string consumer, string shard, string exceptionType);

    [LoggerMessage(32, LogLevel.Information, "Consumer {Consumer}: the reader of shard {Shard} reads again after {Failures} failures over {Duration}.")]
    public static partial void ReaderRecovered(ILogger logger, string consumer, string shard, int failures, TimeSpan duration);

    [LoggerMessage(33, LogLevel.Error, "Consumer {Consumer}: stopping failed; what could be saved was saved, records after the last checkpoint are handled again at the next start.")]
    public static partial void StopFailed(ILogger logger, Exception exception, string consumer);

    [LoggerMessage(34, LogLevel.Warning, "Configuration key {Path} is not a StreamLanes option and is ignored.{Suggestion}")]
    public static partial void UnknownConfigurationKey(ILogger logger, string path, string suggestion);
}
