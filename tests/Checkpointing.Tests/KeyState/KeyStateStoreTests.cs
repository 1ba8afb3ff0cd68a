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

public sealed class InMemoryKeyStateStoreTests : KeyStateStoreContract
{
    private readonly InMemoryCheckpointStore _store = new();

    protected override ICheckpointStore CreateStore() => _store;

    protected override ICheckpointStore Reopen() => _store;
}

public sealed class FileKeyStateStoreTests : KeyStateStoreContract, IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "streamlanes-tests", Guid.NewGuid().ToString("N"));

    protected override ICheckpointStore CreateStore() => new FileCheckpointStore(_directory);

    protected override ICheckpointStore Reopen() => new FileCheckpointStore(_directory);

    [Fact]
    public async Task A_file_written_before_the_key_state_existed_loads_as_before()
    {
        Directory.CreateDirectory(_directory);
        var store = new FileCheckpointStore(_directory);
        var key = new CheckpointKey("orders", "stream", "shard-0");
        await store.SaveAsync(key, SequenceNumber.FromInteger(1), default);
        string file = Directory.GetFiles(_directory, "*.checkpoints.json").Single();
        await File.WriteAllTextAsync(file, """
            {"version":1,"consumer":"orders","stream":"stream","shards":{"shard-0":{"sequenceNumber":"4711","subSequenceNumber":2}}}
            """);

        (SequenceNumber position, byte[]? state) = await ((IKeyStateCheckpointStore)new FileCheckpointStore(_directory)).GetWithKeyStateAsync(key, default);
        Assert.Equal(new SequenceNumber("4711", 2), position);
        Assert.Null(state);
    }

    [Fact]
    public async Task The_state_is_a_base64_field_beside_the_checkpoint_and_a_broken_one_names_the_file_and_field()
    {
        var key = new CheckpointKey("orders", "stream", "shard-0");
        await ((IKeyStateCheckpointStore)new FileCheckpointStore(_directory)).SaveAsync(key, SequenceNumber.FromInteger(3), [1, 2, 3], default);
        string file = Directory.GetFiles(_directory, "*.checkpoints.json").Single();
        string json = await File.ReadAllTextAsync(file);
        Assert.Contains("\"keyState\": \"AQID\"", json, StringComparison.Ordinal);
        Assert.Contains("\"sequenceNumber\": \"3\"", json, StringComparison.Ordinal);

        await File.WriteAllTextAsync(file, json.Replace("AQID", "not base64!", StringComparison.Ordinal));
        InvalidDataException error = await Assert.ThrowsAsync<InvalidDataException>(async () => await new FileCheckpointStore(_directory).GetAsync(key, default));
        Assert.Contains(file, error.Message, StringComparison.Ordinal);
        Assert.Contains("keyState", error.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
