using System.Buffers.Binary;
using System.Diagnostics;
using StreamLanes.Sinks;

namespace StreamLanes.Benchmarks.Harness;

/// <summary>The scenario handler: waits 1 ms (a downstream call), records completion; the poison record fails every attempt.</summary>
internal sealed class TimedHandler(RunRecorder recorder, FixedDelayTimer timer) : IStreamHandler<ReadOnlyMemory<byte>>
{
    public async ValueTask HandleAsync(ReadOnlyMemory<byte> message, HandlerContext context)
    {
        int id = BinaryPrimitives.ReadInt32LittleEndian(message.Span);
        bool poison = id == recorder.PoisonId;
        if (poison && context.Attempt == 1)
        {
            recorder.PoisonFirstAttemptTicks = Stopwatch.GetTimestamp();
        }

        await timer.WaitAsync().ConfigureAwait(false);
        if (poison)
        {
            throw new InvalidOperationException($"Poison record {id} fails every attempt (attempt {context.Attempt}).");
        }

        recorder.Handled(id);
    }

    public static byte[] Payload(int id)
    {
        byte[] payload = new byte[16];
        BinaryPrimitives.WriteInt32LittleEndian(payload, id);
        return payload;
    }
}

/// <summary>An in-memory dead-letter sink that also records when each record was dead-lettered.</summary>
internal sealed class RecordingDeadLetterSink(RunRecorder recorder) : IDeadLetterSink
{
    private readonly InMemoryDeadLetterSink _inner = new();

    public async ValueTask WriteAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken)
    {
        await _inner.WriteAsync(envelope, cancellationToken).ConfigureAwait(false);
        recorder.DeadLettered(BinaryPrimitives.ReadInt32LittleEndian(envelope.Payload.Span));
    }
}
