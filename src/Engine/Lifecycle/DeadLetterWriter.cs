using Microsoft.Extensions.Logging;
using Polly;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>
/// Writes a consumer's dead letters: builds the envelope (the whole record, every attempt, the reason) and retries the
/// sink until the write is durable. A sink outage blocks only the lane that waits here; the record is never skipped
/// (invariant 1), so the checkpoint holds before it. The retries run through the pipeline of
/// <see cref="ResiliencePipelines.UntilSuccess"/> with <see cref="StreamConsumerOptions.SinkRetry"/>.
/// </summary>
internal sealed class DeadLetterWriter(
    string consumer,
    StreamConsumerOptions options,
    IDeadLetterSink sink,
    TimeProvider timeProvider,
    ILogger logger,
    ConsumerCounters counters,
    RecordTracing tracing,
    Func<double>? randomizer = null)
{
    private readonly ResiliencePipeline _retry = ResiliencePipelines.UntilSuccess("StreamLanes.SinkRetry", options.SinkRetry, timeProvider, randomizer);

    public IDeadLetterSink Sink => sink;

    /// <summary>Writes the record's dead letter; returns its id once it is durable, throws only when <paramref name="cancellationToken"/> fires.</summary>
    public async ValueTask<string> WriteAsync(
        KeyLane lane,
        StreamRecord record,
        DeadLetterReason reason,
        DeadLetterAttempt[] attempts,
        string? parkedBehind,
        CancellationToken cancellationToken)
    {
        (string? processing, string? producer, string? producerState) = tracing.EnvelopeContext(record);
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
            ProcessingTraceParent = processing,
            ProducerTraceParent = producer,
            ProducerTraceState = producerState,
        };

        await _retry.ExecuteAsync(
            static (state, token) => state.sink.WriteAsync(state.envelope, token),
            (sink, envelope),
            (ex, failures, wait) =>
            {
                counters.LaneBlocked(lane);
                counters.SinkWriteFailed();
                Log.SinkWriteFailed(logger, SafeText.ForLog(ex), consumer, SafeText.Escape(record.ShardId), SafeText.Escape(record.SequenceNumber), failures, wait);
            },
            cancellationToken).ConfigureAwait(false);
        counters.RecordDeadLettered(reason, record.StreamName);
        Log.RecordDeadLettered(logger, consumer, SafeText.Escape(record.ShardId), SafeText.Escape(record.SequenceNumber), SafeText.Escape(record.PartitionKey), reason, attempts.Length);
        return envelope.Id;
    }
}
