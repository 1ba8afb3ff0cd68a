using System.Globalization;
using StreamLanes.Checkpointing;

namespace StreamLanes;

/// <summary>Reads an <see cref="InMemoryStream"/>: one reader per shard, resuming after the shard's checkpoint.</summary>
/// <remarks>
/// An in-memory read cannot fail transiently; saving <c>SHARD_END</c> for a sealed shard can (the checkpoint store), and is
/// retried with back-off as a transient reader fault. Every other reader fault is fatal: a checkpoint beyond the shard's last
/// record (the checkpoint of an earlier stream of the same name, e.g. a restarted process whose data directory
/// survived while its in-memory stream started empty) stops the consumer with a message naming the shard and the
/// checkpoint, instead of skipping the records the new stream receives up to that position.
/// </remarks>
/// <param name="stream">The stream.</param>
/// <param name="batchSize">Records read per batch. Default 500; 1 to 10,000.</param>
public sealed class InMemoryStreamSource(InMemoryStream stream, int batchSize = 500) : IStreamSource, IDisposable
{
    // Not an option: an in-memory stream's store fails only in tests, which want the retry soon.
    private static readonly BackoffOptions CompleteRetry = BackoffOptions.Of(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(10));

    private readonly InMemoryStream _stream = stream ?? throw new ArgumentNullException(nameof(stream));
    private readonly int _batchSize = batchSize is >= 1 and <= 10_000 ? batchSize : throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be between 1 and 10000.");
    private readonly CancellationTokenSource _stopReading = new();
    private readonly List<Task> _readers = [];

    /// <inheritdoc/>
    public SourceKind Kind => SourceKind.InMemory;

    /// <inheritdoc/>
    public string StreamName => _stream.Name;

    /// <inheritdoc/>
    public async Task StartAsync(ISourceHost host, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        for (int i = 0; i < _stream.ShardCount; i++)
        {
            InMemoryStream.Shard shard = _stream.GetShard(i);
            IShardCheckpointer checkpointer = host.CreateCheckpointer(_stream.Name, shard.Id);
            SequenceNumber checkpoint = await checkpointer.GetAsync(cancellationToken).ConfigureAwait(false);
            if (checkpoint.IsShardEnd)
            {
                // SHARD_END is only written when a closed shard was read to its end: on an open shard it would silently
                // skip every record, so it is a corrupt checkpoint and stops the consumer.
                if (!shard.IsSealed)
                {
                    throw new InvalidDataException(
                        $"The checkpoint of shard '{shard.Id}' of stream '{_stream.Name}' ({checkpointer}) is SHARD_END, but the shard is open. " +
                        "The consumer stops rather than skip the shard's records: correct the value, or remove the shard's entry to read it from its start again.");
                }

                continue;
            }

            IShardProcessor processor = host.OpenShard(shard.Id, checkpointer, checkpoint);

            // In-memory positions are record numbers; one too large for a long is beyond any shard's end.
            long start = checkpoint.IsNone ? 0
                : long.TryParse(checkpoint.Value, NumberStyles.None, CultureInfo.InvariantCulture, out long parsed) ? parsed : long.MaxValue;
            _readers.Add(Task.Run(() => ReadAsync(host, shard, processor, start, checkpoint), CancellationToken.None));
        }
    }

    /// <inheritdoc/>
    public async Task StopReadingAsync(CancellationToken cancellationToken)
    {
        await _stopReading.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_readers).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public Task ReleaseAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    public void Dispose() => _stopReading.Dispose();

    /// <summary>
    /// Saves <c>SHARD_END</c> once the sealed shard's records are complete. A failing checkpoint store is a transient
    /// reader fault: reported (unhealthy meanwhile) and retried with back-off until it succeeds or the reader stops.
    /// </summary>
    private static async Task CompleteAsync(ISourceHost host, string shardId, IShardProcessor processor, CancellationToken token)
    {
        await ResiliencePipelines.UntilSuccess("StreamLanes.InMemory.CompleteRetry", CompleteRetry, host.TimeProvider).ExecuteAsync(
            static (processor, ct) => new ValueTask(processor.CompleteAsync(ct)),
            processor,
            (ex, _, _) => host.ReportReaderFault(shardId, ex, fatal: false),
            token).ConfigureAwait(false);
        host.ReportReaderRecovered(shardId);
    }

    private async Task ReadAsync(ISourceHost host, InMemoryStream.Shard shard, IShardProcessor processor, long next, SequenceNumber checkpoint)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(_stopReading.Token, processor.Stopping);
        CancellationToken token = stop.Token;
        var buffer = new StreamRecord[_batchSize];
        try
        {
            while (!token.IsCancellationRequested)
            {
                (int count, long after, bool sealedAndRead, Task appended, bool beyondEnd) = shard.Read(next, buffer);
                if (beyondEnd)
                {
                    host.ReportReaderFault(shard.Id, new CheckpointBeyondStreamEndException(_stream.Name, shard.Id, checkpoint.ToString(), shard.Count), fatal: true);
                    return;
                }

                for (int i = 0; i < count; i++)
                {
                    ValueTask enqueue = processor.EnqueueAsync(buffer[i], token);
                    if (!enqueue.IsCompletedSuccessfully)
                    {
                        await enqueue.ConfigureAwait(false);
                    }
                }

                Array.Clear(buffer, 0, count);
                next = after;
                if (sealedAndRead)
                {
                    await CompleteAsync(host, shard.Id, processor, token).ConfigureAwait(false);
                    return;
                }

                if (count == 0)
                {
                    await appended.WaitAsync(token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Stopped: the engine drains and checkpoints what was enqueued.
        }
        catch (Exception ex)
        {
            // Nothing would ever retry this reader: reported (the consumer stops), never left in a task nobody awaits.
            host.ReportReaderFault(shard.Id, ex, fatal: true);
        }
    }
}

/// <summary>
/// A shard's checkpoint lies beyond the shard's last record: the checkpoint was saved for another stream of the same
/// name (an in-memory stream starts empty in every process). Fatal: resuming would skip the new stream's records.
/// </summary>
internal sealed class CheckpointBeyondStreamEndException : InvalidOperationException
{
    public CheckpointBeyondStreamEndException(string stream, string shardId, string checkpoint, int records)
        : base($"The checkpoint of shard '{shardId}' of stream '{stream}' is {checkpoint}, beyond the shard's last record ({records} records). "
            + "It was saved for an earlier stream of the same name (an in-memory stream starts empty in every process). "
            + "Delete the consumer's checkpoints (DataDirectory/checkpoints) to read this stream from its start, or give the new stream another name.")
    {
    }

    public CheckpointBeyondStreamEndException()
    {
    }

    public CheckpointBeyondStreamEndException(string message)
        : base(message)
    {
    }

    public CheckpointBeyondStreamEndException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
