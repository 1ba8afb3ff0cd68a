using StreamLanes.Checkpointing;

namespace StreamLanes.Benchmarks.Support;

/// <summary>
/// A source whose shards are fed from arrays of records built before the measurement, by the same calls the
/// in-memory source's readers make (<see cref="IShardProcessor.EnqueueAsync"/> per record, in order).
/// </summary>
/// <remarks>
/// <see cref="InMemoryStreamSource"/> reads an <see cref="InMemoryStream"/> that allocates a record, a sequence-number
/// string and a <see cref="TaskCompletionSource"/> per <c>Put</c>. That is the test producer's cost, not the engine's,
/// and a started consumer would read the records as soon as they are put, so they could not be put outside the
/// measured part. This source keeps the reader's side identical (enqueue in order, wait when the buffer is full)
/// while the records come from arrays built in an iteration set-up.
/// </remarks>
internal sealed class PrebuiltRecordSource(string streamName, int shardCount) : IStreamSource
{
    private ShardProcessor[] _shards = [];

    public SourceKind Kind => SourceKind.InMemory;

    public string StreamName => streamName;

    public int ShardCount => shardCount;

    public static string ShardId(int index) => $"shardId-{index:D12}";

    public ShardProcessor Shard(int index) => _shards[index];

    public async Task StartAsync(ISourceHost host, CancellationToken cancellationToken)
    {
        var shards = new ShardProcessor[shardCount];
        for (int i = 0; i < shardCount; i++)
        {
            string shardId = ShardId(i);
            IShardCheckpointer checkpointer = host.CreateCheckpointer(streamName, shardId);
            SequenceNumber start = await checkpointer.GetAsync(cancellationToken).ConfigureAwait(false);
            shards[i] = (ShardProcessor)host.OpenShard(shardId, checkpointer, start);
        }

        _shards = shards;
    }

    public Task StopReadingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task ReleaseAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Enqueues the records into one shard, as its reader would, then waits until every one is complete.</summary>
    public async Task RunAsync(int shardIndex, StreamRecord[] records)
    {
        ShardProcessor shard = _shards[shardIndex];
        foreach (StreamRecord record in records)
        {
            ValueTask enqueue = shard.EnqueueAsync(record, CancellationToken.None);
            if (!enqueue.IsCompletedSuccessfully)
            {
                await enqueue.ConfigureAwait(false);
            }
        }

        // Complete means the tracker has seen Complete for every record: handled and counted for the checkpoint.
        await shard.WaitDrainedAsync(CancellationToken.None).ConfigureAwait(false);
    }
}
