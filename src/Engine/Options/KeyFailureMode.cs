namespace StreamLanes;

/// <summary>What happens to a partition key when one of its records finally fails.</summary>
public enum KeyFailureMode
{
    /// <summary>Dead-letter the record; the key's next record is handled at once. The default.</summary>
    DeadLetterAndContinue = 0,

    /// <summary>
    /// Dead-letter the record and park the key: every later record of the key is dead-lettered too, with reason
    /// <c>ParkedBehind</c>, until the key is released (<see cref="IStreamConsumer.ReleaseKey"/>), so that a
    /// redrive can replay the key's records in order.
    /// </summary>
    ParkKey = 1,

    /// <summary>
    /// Never dead-letter a retryable handler failure: retry it with back-off until it succeeds, while only this
    /// key waits. Non-retryable failures and records older than <c>MaxRecordAge</c> are still dead-lettered.
    /// </summary>
    RetryUntilSuccess = 2,
}
