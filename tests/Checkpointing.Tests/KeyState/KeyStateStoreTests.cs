using StreamLanes.Checkpointing;

namespace StreamLanes.Checkpointing.Tests.KeyState;

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
