using StreamLanes.Checkpointing;

namespace StreamLanes;

/// <summary>
/// Where a consumer's records come from: discovers shards, holds whatever leases they need, reads them and hands
/// their records to the engine through <see cref="ISourceHost"/>. Implemented by the in-memory, Kinesis,
/// DynamoDB Streams and SQS sources; implement it for another source.
/// </summary>
/// <remarks>
/// Lifecycle: <see cref="StartAsync"/> once; then, on graceful stop, <see cref="StopReadingAsync"/> (the engine then
/// drains and writes the final checkpoints while leases are still held) and finally <see cref="ReleaseAsync"/>.
/// </remarks>
public interface IStreamSource
{
    /// <summary>The kind of source.</summary>
    SourceKind Kind { get; }

    /// <summary>The stream, table stream or queue name.</summary>
    string StreamName { get; }

    /// <summary>
    /// Whether the source saves its checkpoints through <see cref="ISourceHost.CreateCheckpointer"/>, in the consumer's
    /// checkpoint store (<c>UseCheckpointStore</c>, <c>UseFileCheckpoints</c>, <c>UseInMemoryCheckpoints</c>). Default
    /// <see langword="true"/>. A source that keeps its own (the Kinesis and DynamoDB Streams sources in their lease table,
    /// the SQS source by deleting messages) returns <see langword="false"/>: a checkpoint store configured for it then
    /// fails start-up instead of being silently unused, and the default file store is never created.
    /// </summary>
    bool UsesConsumerCheckpointStore => true;

    /// <summary>
    /// Checks the source exists and is reachable (a missing stream or rejected credentials fail here, naming what
    /// is wrong), then starts reading in the background.
    /// </summary>
    /// <param name="host">The engine: opens shards and receives records.</param>
    /// <param name="cancellationToken">Cancels start-up.</param>
    /// <returns>A task that completes once reading has started.</returns>
    Task StartAsync(ISourceHost host, CancellationToken cancellationToken);

    /// <summary>Stops reading and waits for the readers to exit; leases stay held (and renewed) until <see cref="ReleaseAsync"/>.</summary>
    /// <param name="cancellationToken">Bounds the wait.</param>
    /// <returns>A task that completes when no reader runs.</returns>
    Task StopReadingAsync(CancellationToken cancellationToken);

    /// <summary>Releases what the source holds (leases), after the engine wrote the final checkpoints.</summary>
    /// <param name="cancellationToken">Bounds the release.</param>
    /// <returns>A task that completes once released.</returns>
    Task ReleaseAsync(CancellationToken cancellationToken);
}

/// <summary>The engine, as a source sees it.</summary>
public interface ISourceHost
{
    /// <summary>The consumer's name.</summary>
    string ConsumerName { get; }

    /// <summary>The consumer's clock.</summary>
    TimeProvider TimeProvider { get; }

    /// <summary>
    /// A checkpointer over the consumer's configured checkpoint store, for sources without leases of their own.
    /// </summary>
    /// <param name="streamName">The stream.</param>
    /// <param name="shardId">The shard.</param>
    /// <returns>The checkpointer.</returns>
    IShardCheckpointer CreateCheckpointer(string streamName, string shardId);

    /// <summary>Starts processing a shard whose records will be enqueued in sequence order, after <paramref name="startAfter"/>.</summary>
    /// <param name="shardId">The shard.</param>
    /// <param name="checkpointer">Where the shard's checkpoints go (fenced by the lease where there is one).</param>
    /// <param name="startAfter">The position the shard resumes after: its checkpoint, or <see cref="SequenceNumber.None"/>.</param>
    /// <returns>The shard's processor.</returns>
    IShardProcessor OpenShard(string shardId, IShardCheckpointer checkpointer, SequenceNumber startAfter);

    /// <summary>
    /// Starts processing a shard whose records need a per-record action once complete (an SQS message is deleted):
    /// <paramref name="acknowledger"/> is told of each record when it was handled successfully or durably
    /// dead-lettered, before the record counts as complete for draining and checkpoints.
    /// </summary>
    /// <param name="shardId">The shard.</param>
    /// <param name="checkpointer">Where the shard's checkpoints go.</param>
    /// <param name="startAfter">The position the shard resumes after.</param>
    /// <param name="acknowledger">Told of each completed record; <see langword="null"/> for none.</param>
    /// <returns>The shard's processor.</returns>
    IShardProcessor OpenShard(string shardId, IShardCheckpointer checkpointer, SequenceNumber startAfter, IRecordAcknowledger? acknowledger);

    /// <summary>Reports a failure the source cannot recover from by itself; the consumer becomes unhealthy.</summary>
    /// <param name="exception">The failure.</param>
    void ReportFault(Exception exception);

    /// <summary>
    /// Reports that a shard's reader failed. Logged at once; the consumer's status lists it and its health check is
    /// unhealthy (naming the shard and the exception type) until <see cref="ReportReaderRecovered"/>.
    /// </summary>
    /// <remarks>
    /// Transient (<paramref name="fatal"/> false): the source keeps retrying with back-off (throttling, 5xx, network
    /// errors, a missing stream or denied access that an operator may fix). Fatal: waiting cannot heal it (a checkpoint
    /// beyond the stream's end, a reader that died on an unexpected error); the consumer then stops by itself (stop
    /// reading, drain, final checkpoints, release) and stays unhealthy until restarted. Never blocks: a reader may
    /// report and then return.
    /// </remarks>
    /// <param name="shardId">The shard whose reader failed.</param>
    /// <param name="exception">The failure; its message must not carry payloads.</param>
    /// <param name="fatal">Whether the consumer must stop.</param>
    void ReportReaderFault(string shardId, Exception exception, bool fatal);

    /// <summary>Reports that a shard's reader read successfully again after <see cref="ReportReaderFault"/>; cheap when it had not failed.</summary>
    /// <param name="shardId">The shard.</param>
    void ReportReaderRecovered(string shardId);
}

/// <summary>One shard being processed: the source enqueues its records; the engine handles and checkpoints them.</summary>
public interface IShardProcessor
{
    /// <summary>The shard id.</summary>
    string ShardId { get; }

    /// <summary>Signalled when the shard stops being processed (abandoned, or the consumer stopped); readers should exit.</summary>
    CancellationToken Stopping { get; }

    /// <summary>The number of records enqueued and not yet complete.</summary>
    int BufferedCount { get; }

    /// <summary>
    /// Enqueues the shard's next record, in sequence order. Waits while the shard's or the consumer's buffer is full
    /// (backpressure); completes synchronously otherwise.
    /// </summary>
    /// <param name="record">The record; it must come after every record enqueued before.</param>
    /// <param name="cancellationToken">Cancels the wait for buffer space.</param>
    /// <returns>A task that completes once the record is enqueued.</returns>
    ValueTask EnqueueAsync(StreamRecord record, CancellationToken cancellationToken);

    /// <summary>
    /// Marks the shard's end (closed after a split or merge, or an in-memory shard sealed): waits for every record
    /// to complete, checkpoints <see cref="SequenceNumber.ShardEnd"/>, and closes the shard.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait; the shard is then checkpointed normally on stop.</param>
    /// <returns>A task that completes once <c>SHARD_END</c> is saved.</returns>
    Task CompleteAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Stops processing the shard without checkpointing (its lease was lost): in-flight handlers are cancelled and
    /// buffered records dropped, to be processed by the shard's new owner.
    /// </summary>
    /// <returns>A task that completes when no handler of the shard runs any more.</returns>
    Task AbandonAsync();
}

/// <summary>
/// A source's per-record action when the engine is done with a record (for SQS: delete the message). Records that
/// never complete (the consumer stopped, the shard was abandoned) are never acknowledged.
/// </summary>
public interface IRecordAcknowledger
{
    /// <summary>
    /// Called once per record, on the handling thread, after the record was handled successfully or written to the
    /// dead-letter sink, and before the next record of its key starts. Keep it short and non-blocking (queue the work);
    /// an exception thrown here is reported as a consumer fault and the record still counts as complete.
    /// </summary>
    /// <param name="record">The completed record.</param>
    void OnRecordCompleted(StreamRecord record);
}

/// <summary>
/// A source without checkpoints (<see cref="IStreamSource.UsesConsumerCheckpointStore"/> is false) that keeps a
/// <see cref="KeyFailureMode.ParkKey"/> consumer's parked keys in the consumer's checkpoint store: for such a consumer a
/// configured store is used rather than refused.
/// </summary>
internal interface IParkedKeysInCheckpointStore;
