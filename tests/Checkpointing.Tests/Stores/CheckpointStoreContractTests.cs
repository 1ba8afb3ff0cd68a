using StreamLanes.Checkpointing;

namespace StreamLanes.Checkpointing.Tests.Stores;

/// <summary>The contract every <see cref="ICheckpointStore"/> honours; one subclass per implementation.</summary>
public abstract class CheckpointStoreContractTests
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

public sealed class InMemoryCheckpointStoreTests : CheckpointStoreContractTests
{
    private readonly InMemoryCheckpointStore _store = new();

    protected override ICheckpointStore CreateStore() => _store;

    protected override ICheckpointStore Reopen() => _store;
}

public sealed class FileCheckpointStoreTests : CheckpointStoreContractTests, IDisposable
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
