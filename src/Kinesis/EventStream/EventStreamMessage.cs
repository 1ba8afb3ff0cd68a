namespace StreamLanes.Kinesis.EventStream;

/// <summary>The value types an <c>application/vnd.amazon.eventstream</c> header can carry, as numbered on the wire.</summary>
internal enum EventStreamHeaderType : byte
{
    BoolTrue = 0,
    BoolFalse = 1,
    Byte = 2,
    Short = 3,
    Integer = 4,
    Long = 5,
    ByteArray = 6,
    String = 7,
    Timestamp = 8,
    Uuid = 9,
}

/// <summary>
/// One header of an event-stream message. <see cref="Value"/> is a <see cref="bool"/>, <see cref="sbyte"/>,
/// <see cref="short"/>, <see cref="int"/>, <see cref="long"/>, byte array, <see cref="string"/>,
/// <see cref="DateTimeOffset"/> or <see cref="Guid"/>, as <see cref="Type"/> says.
/// </summary>
internal readonly record struct EventStreamHeader(string Name, EventStreamHeaderType Type, object Value);

/// <summary>One decoded, checksum-verified event-stream message: its headers and its payload.</summary>
internal sealed class EventStreamMessage
{
    /// <summary>The <c>:message-type</c> of an ordinary event.</summary>
    public const string EventMessageType = "event";

    /// <summary>The <c>:message-type</c> of a modelled service exception (e.g. <c>ResourceInUseException</c>).</summary>
    public const string ExceptionMessageType = "exception";

    /// <summary>The <c>:message-type</c> of an unmodelled error (it carries <c>:error-code</c> and <c>:error-message</c>).</summary>
    public const string ErrorMessageType = "error";

    public EventStreamMessage(IReadOnlyList<EventStreamHeader> headers, ReadOnlyMemory<byte> payload)
    {
        Headers = headers;
        Payload = payload;
    }

    public IReadOnlyList<EventStreamHeader> Headers { get; }

    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary><c>event</c>, <c>exception</c> or <c>error</c>; <see langword="null"/> when the header is missing.</summary>
    public string? MessageType => GetString(":message-type");

    /// <summary>For events: e.g. <c>initial-response</c> or <c>SubscribeToShardEvent</c>.</summary>
    public string? EventType => GetString(":event-type");

    /// <summary>For exceptions: the exception's type name, e.g. <c>ResourceInUseException</c>.</summary>
    public string? ExceptionType => GetString(":exception-type");

    /// <summary>For errors: the error code.</summary>
    public string? ErrorCode => GetString(":error-code");

    /// <summary>For errors: the error message.</summary>
    public string? ErrorMessage => GetString(":error-message");

    /// <summary>The value of the first string header named <paramref name="name"/>, if there is one.</summary>
    public string? GetString(string name)
    {
        foreach (EventStreamHeader header in Headers)
        {
            if (header.Type == EventStreamHeaderType.String && string.Equals(header.Name, name, StringComparison.Ordinal))
            {
                return (string)header.Value;
            }
        }

        return null;
    }
}

/// <summary>
/// The bytes received are not a valid event stream: a checksum does not match, a length is out of range, a header is
/// malformed, or the stream ended inside a message. The connection cannot be trusted past this point.
/// </summary>
internal sealed class EventStreamFormatException : Exception
{
    public EventStreamFormatException()
    {
    }

    public EventStreamFormatException(string message)
        : base(message)
    {
    }

    public EventStreamFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
