using StreamLanes.Checkpointing;

namespace StreamLanes.Checkpointing.Tests.Stores;

public sealed class InMemoryCheckpointStoreTests : CheckpointStoreContract
{
    private readonly InMemoryCheckpointStore _store = new();

    protected override ICheckpointStore CreateStore() => _store;

    protected override ICheckpointStore Reopen() => _store;
}

public sealed class FileCheckpointStoreTests : CheckpointStoreContract, IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "streamlanes-tests", Guid.NewGuid().ToString("N"));

    protected override ICheckpointStore CreateStore() => new FileCheckpointStore(_directory);

    protected override ICheckpointStore Reopen() => new FileCheckpointStore(_directory);

    [Fact]
    public async Task A_crash_mid_write_leaves_the_previous_checkpoint_readable()
    {
        var key = new CheckpointKey("orders", "stream", "shard-0");
        await new FileCheckpointStore(_directory).SaveAsync(key, SequenceNumber.FromInteger(100), default);

        // A crash between creating the temporary file and renaming it leaves a torn temporary file behind.
        string file = Directory.GetFiles(_directory, "*.checkpoints.json").Single();
        await File.WriteAllTextAsync($"{file}.0123456789abcdef.tmp", "{\"version\":1,\"shards\":{\"shard-0\":{\"sequenceNu");

        var restarted = new FileCheckpointStore(_directory);
        Assert.Equal(SequenceNumber.FromInteger(100), await restarted.GetAsync(key, default));
        await restarted.SaveAsync(key, SequenceNumber.FromInteger(200), default);
        Assert.Equal(SequenceNumber.FromInteger(200), await new FileCheckpointStore(_directory).GetAsync(key, default));
    }

    [Fact]
    public async Task A_corrupt_checkpoint_file_stops_the_reader_instead_of_starting_over()
    {
        var key = new CheckpointKey("orders", "stream", "shard-0");
        await new FileCheckpointStore(_directory).SaveAsync(key, SequenceNumber.FromInteger(100), default);
        string file = Directory.GetFiles(_directory, "*.checkpoints.json").Single();
        await File.WriteAllTextAsync(file, "{\"version\":1,\"shards\":{\"shard-0\":{\"sequenceNumber\":\"12x\"");

        InvalidDataException error = await Assert.ThrowsAsync<InvalidDataException>(async () => await new FileCheckpointStore(_directory).GetAsync(key, default));
        Assert.Contains(file, error.Message);
    }

    [Fact]
    public async Task Names_that_escape_alike_do_not_share_a_file()
    {
        var store = new FileCheckpointStore(_directory);
        await store.SaveAsync(new CheckpointKey("a/b", "s", "0"), SequenceNumber.FromInteger(1), default);
        await store.SaveAsync(new CheckpointKey("a:b", "s", "0"), SequenceNumber.FromInteger(2), default);
        var reopened = new FileCheckpointStore(_directory);
        Assert.Equal(SequenceNumber.FromInteger(1), await reopened.GetAsync(new CheckpointKey("a/b", "s", "0"), default));
        Assert.Equal(SequenceNumber.FromInteger(2), await reopened.GetAsync(new CheckpointKey("a:b", "s", "0"), default));
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
