using Microsoft.Extensions.Logging;

namespace StreamLanes.Sinks;

// Payloads are never logged: dead letters are identified by their id (consumer, stream, shard, sequence) only.
internal static partial class SinkLog
{
    [LoggerMessage(101, LogLevel.Warning, "Dead-letter sink {Sink}: the write of {DeadLetterId} failed: {Error}. The engine retries it.")]
    public static partial void WriteFailed(ILogger logger, string sink, string deadLetterId, string error);

    [LoggerMessage(102, LogLevel.Information, "Dead-letter sink {Sink}: {DeadLetterId} is {Bytes} bytes, over the limit of {Limit}; its body is stored in S3 as {ObjectKey}.")]
    public static partial void ClaimChecked(ILogger logger, string sink, string deadLetterId, long bytes, int limit, string objectKey);

    [LoggerMessage(103, LogLevel.Warning, "Dead-letter store {Sink}: message {MessageId} is not a StreamLanes dead letter and is left in place.")]
    public static partial void ForeignMessage(ILogger logger, Exception exception, string sink, string messageId);

    [LoggerMessage(104, LogLevel.Information, "Redrive {Operation}: {DeadLetterId} (key {PartitionKey}) -> {Outcome}.")]
    public static partial void RedriveOutcome(ILogger logger, string operation, string deadLetterId, string partitionKey, DeadLetterOutcome outcome);

    [LoggerMessage(105, LogLevel.Warning, "Redrive {Operation}: {DeadLetterId} (key {PartitionKey}) failed: {Error}. Later dead letters of the key are skipped.")]
    public static partial void RedriveFailed(ILogger logger, string operation, string deadLetterId, string partitionKey, string error);

    [LoggerMessage(106, LogLevel.Information, "Redrive replay: key {PartitionKey} of consumer {Consumer} has no dead letters left and was released.")]
    public static partial void KeyReleased(ILogger logger, string consumer, string partitionKey);

    [LoggerMessage(107, LogLevel.Warning, "Dead-letter file {Path}: line {LineNumber} is not readable and is skipped: {Problem}. It stays in the file; 'streamlanes dlq check' lists such lines and 'dlq quarantine' moves them aside.")]
    public static partial void UnreadableLine(ILogger logger, string path, int lineNumber, string problem);

    [LoggerMessage(108, LogLevel.Warning, "Dead-letter file {Path}: unreadable line {LineNumber} was moved to {QuarantinePath}.")]
    public static partial void LineQuarantined(ILogger logger, string path, int lineNumber, string quarantinePath);
}
