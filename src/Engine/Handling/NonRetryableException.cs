namespace StreamLanes;

/// <summary>
/// Thrown by a handler for a failure that cannot succeed on retry (invalid content, a rejected business rule):
/// the record is dead-lettered at once with reason <c>NonRetryable</c>.
/// </summary>
public class NonRetryableException : Exception
{
    /// <summary>Initializes the exception.</summary>
    public NonRetryableException()
    {
    }

    /// <summary>Initializes the exception with a message.</summary>
    /// <param name="message">Why the record cannot be handled.</param>
    public NonRetryableException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes the exception with a message and a cause.</summary>
    /// <param name="message">Why the record cannot be handled.</param>
    /// <param name="innerException">The cause.</param>
    public NonRetryableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Thrown when a payload cannot be deserialized into the handler's message type: always non-retryable.</summary>
public sealed class PayloadDeserializationException : NonRetryableException
{
    /// <summary>Initializes the exception.</summary>
    public PayloadDeserializationException()
    {
    }

    /// <summary>Initializes the exception with a message.</summary>
    /// <param name="message">What could not be deserialized.</param>
    public PayloadDeserializationException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes the exception with a message and a cause.</summary>
    /// <param name="message">What could not be deserialized.</param>
    /// <param name="innerException">The deserializer's exception.</param>
    public PayloadDeserializationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
