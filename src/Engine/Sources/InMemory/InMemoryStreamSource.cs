using System.Globalization;
using StreamLanes.Checkpointing;

namespace StreamLanes;

/// <summary>Reads an <see cref="InMemoryStream"/>: one reader per shard, resuming after the shard's checkpoint.</summary>
/// <param name="stream">The stream.</param>
/// <param name="batchSize">Records read per batch. Default 500; 1 to 10,000.</param>
public sealed class InMemoryStreamSource(InMemoryStream stream, int batchSize = 500) : IStreamSource, IDisposable
{
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
            int start = checkpoint.IsNone ? 0 : int.Parse(checkpoint.Value, NumberStyles.None, CultureInfo.InvariantCulture);
            _readers.Add(Task.Run(() => ReadAsync(shard, processor, start), CancellationToken.None));
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

    private async Task ReadAsync(InMemoryStream.Shard shard, IShardProcessor processor, int next)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(_stopReading.Token, processor.Stopping);
        CancellationToken token = stop.Token;
        var buffer = new StreamRecord[_batchSize];
        try
        {
            while (!token.IsCancellationRequested)
            {
                (int count, int after, bool sealedAndRead, Task appended) = shard.Read(next, buffer);
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
                    await processor.CompleteAsync(token).ConfigureAwait(false);
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
    }
}
