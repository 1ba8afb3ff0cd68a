using Microsoft.Extensions.Logging;

namespace StreamLanes.Sqs;

internal static partial class SqsLog
{
    [LoggerMessage(401, LogLevel.Warning, "SQS {Queue}: receiving failed; retrying in {Delay}.")]
    public static partial void ReceiveFailed(ILogger logger, Exception exception, string queue, TimeSpan delay);

    [LoggerMessage(402, LogLevel.Warning, "SQS {Queue}: message {MessageId} was handled but could not be deleted ({Code}); it will be received again after its visibility timeout.")]
    public static partial void DeleteFailed(ILogger logger, Exception? exception, string queue, string messageId, string code);

    [LoggerMessage(403, LogLevel.Warning, "SQS {Queue}: renewing the visibility of {Count} in-flight messages failed; retrying at the next heartbeat.")]
    public static partial void HeartbeatFailed(ILogger logger, Exception exception, string queue, int count);

    [LoggerMessage(404, LogLevel.Warning, "SQS {Queue}: message {MessageId} has been in flight for MaxVisibilityHold ({MaxHold}); its visibility is no longer renewed, so it will become visible and may be received and handled again while it is still being handled here.")]
    public static partial void HoldExhausted(ILogger logger, string queue, string messageId, TimeSpan maxHold);

    [LoggerMessage(405, LogLevel.Warning, "SQS {Queue}: making {Count} unhandled messages visible again failed; they reappear after their visibility timeout.")]
    public static partial void ReleaseFailed(ILogger logger, Exception? exception, string queue, int count);

    [LoggerMessage(406, LogLevel.Information, "SQS {Queue}: {Count} messages not handled before the stop were made visible again.")]
    public static partial void Released(ILogger logger, string queue, int count);

    [LoggerMessage(407, LogLevel.Warning, "SQS {Queue}: the stop cancelled long polls still in flight {Bound} after it began (a hung connection, or the release's time ran out); messages SQS handed to them stay hidden until their visibility timeout.")]
    public static partial void PollsCancelled(ILogger logger, string queue, TimeSpan bound);

    [LoggerMessage(408, LogLevel.Error, "SQS {Queue}: redriven dead letter {MessageId} could not be turned back into its record; it is not handled now and comes back after its visibility timeout ({VisibilityTimeout}).")]
    public static partial void RedrivenEnvelopeUnreadable(ILogger logger, Exception exception, string queue, string messageId, TimeSpan visibilityTimeout);
}
