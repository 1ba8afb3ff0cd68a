namespace StreamLanes.Sinks;

/// <summary>Why a record was dead-lettered.</summary>
public enum DeadLetterReason
{
    /// <summary>The handler failed on every allowed attempt.</summary>
    RetriesExhausted = 0,

    /// <summary>The record was older than the consumer's <c>MaxRecordAge</c> before it could be handled.</summary>
    RecordTooOld = 1,

    /// <summary>The failure cannot succeed on retry: an exception classified non-retryable, or an undeserializable payload.</summary>
    NonRetryable = 2,

    /// <summary>The record's partition key was parked behind an earlier dead letter (<c>ParkKey</c> failure mode).</summary>
    ParkedBehind = 3,
}
