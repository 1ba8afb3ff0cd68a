namespace StreamLanes;

/// <summary>
/// Handles the records of a stream consumer, one at a time per partition key. Implement it once per consumer and
/// register it with <c>services.AddStreamConsumer&lt;THandler&gt;()</c>.
/// </summary>
/// <typeparam name="TMessage">
/// The payload type. JSON (System.Text.Json) by default; <see cref="ReadOnlyMemory{T}"/> of <see cref="byte"/>,
/// <c>byte[]</c>, <see cref="string"/> (UTF-8) and <see cref="StreamRecord"/> receive the payload as is.
/// </typeparam>
/// <remarks>
/// Throwing fails the attempt: it is retried as the consumer's retry options say, and finally dead-lettered with
/// its payload, unless the exception is non-retryable (<see cref="NonRetryableException"/> or a type or predicate
/// configured on the consumer), in which case it is dead-lettered at once. Calls for different keys run
/// concurrently; calls for one key never do.
/// </remarks>
public interface IStreamHandler<in TMessage>
{
    /// <summary>Handles one record.</summary>
    /// <param name="message">The deserialized payload.</param>
    /// <param name="context">The record, the attempt number and the cancellation token.</param>
    /// <returns>A task that completes when the record is handled.</returns>
    ValueTask HandleAsync(TMessage message, HandlerContext context);
}
