using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>The lane's side of <see cref="StreamConsumerInspectionExtensions.Inspect"/>.</summary>
internal sealed partial class KeyLane
{
    // Written by the lane's pump, read by an inspecting thread: an immutable pair published by one reference write, so
    // a reader never sees one record's error with another's sequence number (Attempts itself is not safe to read there).
    private volatile LaneFailure? _latestFailure;

    /// <summary>Records a failed attempt of the current record (the pump's thread only).</summary>
    public void AddFailure(DeadLetterAttempt attempt)
    {
        Attempts.Add(attempt);
        _latestFailure = new LaneFailure(CurrentRecord!, attempt);
    }

    /// <summary>Forgets the latest failure, so that a pooled lane keeps no record alive.</summary>
    private void ClearFailure() => _latestFailure = null;

    /// <summary>Describes this blocked lane; called under the shard's lock.</summary>
    internal BlockedKeyDetails DescribeBlocked(string shardId)
    {
        LaneFailure? failure = _latestFailure;
        StreamRecord? current = CurrentRecord;
        bool retrying = failure is not null && current is not null && ReferenceEquals(failure.Record, current);
        return new BlockedKeyDetails
        {
            ShardId = shardId,
            Key = Key,
            SequenceNumber = retrying ? current!.SequenceNumber : null,
            Attempts = retrying ? failure!.Attempt.Attempt : 0,
            QueuedRecords = Queue.Count + TakenPending,
            LatestExceptionType = failure?.Attempt.ExceptionType,
            LatestError = failure?.Attempt.Message,
            LatestFailedAt = failure?.Attempt.FailedAt,
        };
    }

    private sealed record LaneFailure(StreamRecord Record, DeadLetterAttempt Attempt);
}
