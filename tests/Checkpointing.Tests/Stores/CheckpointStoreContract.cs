using StreamLanes.Checkpointing;

namespace StreamLanes.Checkpointing.Tests.Stores;

/// <summary>The contract every <see cref="ICheckpointStore"/> honours; one subclass per implementation.</summary>
public abstract class CheckpointStoreContract
{
    protected abstract ICheckpointStore CreateStore();

    /// <summary>A store over the same backing data, as a restarted process would open it.</summary>
    protected abstract ICheckpointStore Reopen();

    [Fact]
    public async Task Missing_checkpoint_reads_as_none()
    {
        ICheckpointStore store = CreateStore();
        Assert.True((await store.GetAsync(new CheckpointKey("c", "s", "shard-1"), default)).IsNone);
    }

    [Fact]
    public async Task Saved_positions_read_back_per_shard_and_survive_a_reopen()
    {
        ICheckpointStore store = CreateStore();
        var first = new CheckpointKey("orders", "stream-a", "shardId-000000000000");
        var second = first with { Shard = "shardId-000000000001" };
        var otherConsumer = first with { Consumer = "audit" };
        await store.SaveAsync(first, new SequenceNumber("49590338271490256608559692538361571095921575989136588898", 3), default);
        await store.SaveAsync(second, SequenceNumber.ShardEnd, default);
        await store.SaveAsync(otherConsumer, SequenceNumber.FromInteger(7), default);
        await store.SaveAsync(first, new SequenceNumber("49590338271490256608559692538361571095921575989136588899", 0), default);

        foreach (ICheckpointStore reader in new[] { store, Reopen() })
        {
            Assert.Equal(new SequenceNumber("49590338271490256608559692538361571095921575989136588899", 0), await reader.GetAsync(first, default));
            Assert.True((await reader.GetAsync(second, default)).IsShardEnd);
            Assert.Equal(SequenceNumber.FromInteger(7), await reader.GetAsync(otherConsumer, default));
        }
    }

    [Fact]
    public async Task Concurrent_saves_of_different_shards_all_land()
    {
        ICheckpointStore store = CreateStore();
        await Task.WhenAll(Enumerable.Range(0, 32).Select(i =>
            store.SaveAsync(new CheckpointKey("c", "s", $"shard-{i}"), SequenceNumber.FromInteger((ulong)i + 1), default).AsTask()));
        ICheckpointStore reopened = Reopen();
        for (int i = 0; i < 32; i++)
        {
            Assert.Equal(SequenceNumber.FromInteger((ulong)i + 1), await reopened.GetAsync(new CheckpointKey("c", "s", $"shard-{i}"), default));
        }
    }
}
