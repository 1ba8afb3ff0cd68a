using System.Buffers;
using System.IO.Pipelines;

namespace StreamLanes.Kinesis.EventStream;

/// <summary>
/// Reads event-stream messages one at a time from a response body. It reads from the network only while a caller
/// awaits <see cref="ReadAsync"/>, so a consumer that stops asking (its shard's buffer is full) stops the flow through
/// HTTP/2 flow control instead of buffering without bound.
/// </summary>
internal sealed class EventStreamReader : IAsyncDisposable
{
    private readonly PipeReader _reader;

    public EventStreamReader(Stream body)
    {
        ArgumentNullException.ThrowIfNull(body);
        _reader = PipeReader.Create(body, new StreamPipeReaderOptions(leaveOpen: false));
    }

    /// <summary>
    /// The next message, or <see langword="null"/> when the body ended cleanly between two messages.
    /// </summary>
    /// <exception cref="EventStreamFormatException">A checksum, length or header is invalid, or the body ended inside a message.</exception>
    public async ValueTask<EventStreamMessage?> ReadAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            bool decoded;
            EventStreamMessage? message;
            try
            {
                decoded = EventStreamDecoder.TryDecode(ref buffer, out message);
            }
            catch
            {
                _reader.AdvanceTo(result.Buffer.Start);
                throw;
            }

            if (decoded)
            {
                _reader.AdvanceTo(buffer.Start);
                return message;
            }

            if (result.IsCompleted)
            {
                long left = buffer.Length;
                _reader.AdvanceTo(buffer.End);
                return left == 0
                    ? null
                    : throw new EventStreamFormatException($"The event stream ended inside a message ({left} bytes of it arrived).");
            }

            if (result.IsCanceled)
            {
                _reader.AdvanceTo(buffer.Start);
                throw new OperationCanceledException(cancellationToken);
            }

            // Nothing of the buffer is consumed, all of it was examined: the next read waits for more bytes.
            _reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    public ValueTask DisposeAsync() => _reader.CompleteAsync();
}
