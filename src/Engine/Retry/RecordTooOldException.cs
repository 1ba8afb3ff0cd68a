namespace StreamLanes;

/// <summary>The failure recorded when a record became older than <c>MaxRecordAge</c> between attempts.</summary>
public sealed class RecordTooOldException : Exception
{
    /// <summary>Initializes the exception.</summary>
    public RecordTooOldException()
    {
    }

    /// <summary>Initializes the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public RecordTooOldException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes the exception with a message and a cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public RecordTooOldException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal RecordTooOldException(StreamRecord record, TimeSpan maxAge)
        : base($"Record {record} arrived at {record.ArrivalTime:O}, more than MaxRecordAge ({maxAge}) ago.")
    {
    }
}
