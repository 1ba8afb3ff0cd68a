using StreamLanes.Checkpointing;

namespace StreamLanes.Checkpointing.Tests.KeyState;

/// <summary>The key state beside the checkpoint, in every store that keeps one; one subclass per store.</summary>
public abstract class KeyStateStoreContract
{
    private static readonly CheckpointKey Key = new("orders", "stream", "shardId-000000000001");

    protected abstract ICheckpointStore CreateStore();

    protected abstract ICheckpointStore Reopen();

    [Fact]
    public async Task The_key_state_is_saved_and_read_with_its_checkpoint_and_survives_a_reopen()
    {
        var store = (IKeyStateCheckpointStore)CreateStore();
        byte[] state = [1, 2, 3, 250];
        await store.SaveAsync(Key, SequenceNumber.FromInteger(41), state, default);

        foreach (ICheckpointStore reader in new[] { (ICheckpointStore)store, Reopen() })
        {
            (SequenceNumber position, byte[]? read) = await ((IKeyStateCheckpointStore)reader).GetWithKeyStateAsync(Key, default);
            Assert.Equal(SequenceNumber.FromInteger(41), position);
            Assert.Equal(state, read);
            Assert.Equal(SequenceNumber.FromInteger(41), await reader.GetAsync(Key, default));
        }
    }

    [Fact]
    public async Task A_plain_save_keeps_the_state_and_an_empty_one_removes_it()
    {
        var store = (IKeyStateCheckpointStore)CreateStore();
        await store.SaveAsync(Key, SequenceNumber.FromInteger(1), [9], default);
        await store.SaveAsync(Key, SequenceNumber.FromInteger(2), default);
        Assert.Equal([9], (await ((IKeyStateCheckpointStore)Reopen()).GetWithKeyStateAsync(Key, default)).KeyState);

        await store.SaveAsync(Key, SequenceNumber.FromInteger(3), [], default);
        (SequenceNumber position, byte[]? state) = await ((IKeyStateCheckpointStore)Reopen()).GetWithKeyStateAsync(Key, default);
        Assert.Equal(SequenceNumber.FromInteger(3), position);
        Assert.Null(state);
    }

    [Fact]
    public async Task A_key_state_saved_before_the_first_checkpoint_reads_back_with_no_position()
    {
        var store = (IKeyStateCheckpointStore)CreateStore();
        await store.SaveAsync(Key, SequenceNumber.None, [7, 7], default);
        (SequenceNumber position, byte[]? state) = await ((IKeyStateCheckpointStore)Reopen()).GetWithKeyStateAsync(Key, default);
        Assert.True(position.IsNone);
        Assert.Equal([7, 7], state);
    }

    [Fact]
    public async Task A_checkpoint_saved_without_a_key_state_reads_with_none()
    {
        ICheckpointStore store = CreateStore();
        await store.SaveAsync(Key, SequenceNumber.FromInteger(5), default);
        (SequenceNumber position, byte[]? state) = await ((IKeyStateCheckpointStore)Reopen()).GetWithKeyStateAsync(Key, default);
        Assert.Equal(SequenceNumber.FromInteger(5), position);
        Assert.Null(state);
    }

    [Fact]
    public async Task The_shard_checkpointer_hands_the_loaded_state_to_the_engine_and_saves_through_the_store()
    {
        var store = (IKeyStateCheckpointStore)CreateStore();
        await store.SaveAsync(Key, SequenceNumber.FromInteger(7), [4, 2], default);
        var checkpointer = new StoreShardCheckpointer(Reopen(), Key);

        Assert.Equal(SequenceNumber.FromInteger(7), await checkpointer.GetAsync(default));
        Assert.Equal([4, 2], ((IKeyStateCheckpointer)checkpointer).LoadedKeyState);

        await ((IKeyStateCheckpointer)checkpointer).SaveAsync(SequenceNumber.FromInteger(8), [6], default);
        Assert.Equal([6], (await ((IKeyStateCheckpointStore)Reopen()).GetWithKeyStateAsync(Key, default)).KeyState);
    }
}
