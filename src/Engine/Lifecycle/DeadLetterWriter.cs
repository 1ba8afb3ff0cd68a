using Microsoft.Extensions.Logging;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>
/// Writes a consumer's dead letters: builds the envelope (the whole record, every attempt, the reason) and retries the
/// sink until the write is durable. A sink outage blocks only the lane that waits here; the record is never skipped
/// (invariant 1), so the checkpoint holds before it.
/// </summary>
internal sealed class DeadLetterWriter(
    string consumer,
    StreamConsumerOptions options,
    IDeadLetterSink sink,
    TimeProvider timeProvider,
    ILogger logger,
    ConsumerCounters counters)
{
    public IDeadLetterSink Sink => sink;

    /// <summary>Writes the record's dead letter; returns once it is durable, throws only when <paramref name="cancellationToken"/> fires.</summary>
    public async ValueTask WriteAsync(
        KeyLane lane,
        StreamRecord record,
        DeadLetterReason reason,
        DeadLetterAttempt[] attempts,
        string? parkedBehind,
        CancellationToken cancellationToken)
    {
        var envelope = new DeadLetterEnvelope
        {
            Consumer = consumer,
            SourceKind = record.SourceKind,
            Stream = record.StreamName,
            Shard = record.ShardId,
            SequenceNumber = record.SequenceNumber,
            SubSequenceNumber = record.SubSequenceNumber,
            PartitionKey = record.PartitionKey,
            ArrivalTime = record.ArrivalTime,
            Attributes = record.Attributes,
            Payload = record.Data,
            Reason = reason,
            ParkedBehindSequenceNumber = parkedBehind,
            Attempts = attempts,
            DeadLetteredAt = timeProvider.GetUtcNow(),
        };

        TimeSpan delay = options.SinkRetryBaseDelay;
        for (int failures = 1; ; failures++)
        {
            try
            {
                await sink.WriteAsync(envelope, cancellationToken).ConfigureAwait(false);
                counters.RecordDeadLettered(reason, record.StreamName);
                Log.RecordDeadLettered(logger, consumer, SafeText.Escape(record.ShardId), SafeText.Escape(record.SequenceNumber), SafeText.Escape(record.PartitionKey), reason, attempts.Length);
                return;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                counters.LaneBlocked(lane);
                counters.SinkWriteFailed();
                TimeSpan wait = Backoff.Jittered(delay);
                Log.SinkWriteFailed(logger, SafeText.ForLog(ex), consumer, SafeText.Escape(record.ShardId), SafeText.Escape(record.SequenceNumber), failures, wait);
                await Task.Delay(wait, timeProvider, cancellationToken).ConfigureAwait(false);
                delay = Backoff.Next(delay, options.SinkRetryMaxDelay);
            }
        }
    }
}
