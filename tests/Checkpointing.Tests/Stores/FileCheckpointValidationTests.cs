using StreamLanes.Checkpointing;

namespace StreamLanes.Checkpointing.Tests.Stores;

/// <summary>Every invalid value in a checkpoint file stops the reader with one message naming the file, the field and the value.</summary>
public sealed class FileCheckpointValidationTests : IDisposable
{
    private static readonly CheckpointKey Key = new("orders", "stream", "shard-0");
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "streamlanes-tests", Guid.NewGuid().ToString("N"));

    [Theory]
    [InlineData("\"sequenceNumber\":null,\"subSequenceNumber\":0", "sequenceNumber", "null")]
    [InlineData("\"sequenceNumber\":\"\",\"subSequenceNumber\":0", "sequenceNumber", "\"\"")]
    [InlineData("\"subSequenceNumber\":0", "sequenceNumber", "missing")]
    [InlineData("\"sequenceNumber\":\"abc\",\"subSequenceNumber\":0", "sequenceNumber", "\"abc\"")]
    [InlineData("\"sequenceNumber\":\"-1\",\"subSequenceNumber\":0", "sequenceNumber", "\"-1\"")]
    [InlineData("\"sequenceNumber\":\" 12\",\"subSequenceNumber\":0", "sequenceNumber", "\" 12\"")]
    [InlineData("\"sequenceNumber\":12,\"subSequenceNumber\":0", "sequenceNumber", "12")]
    [InlineData("\"sequenceNumber\":\"12\",\"subSequenceNumber\":99999999999999999999999999", "subSequenceNumber", "99999999999999999999999999")]
    [InlineData("\"sequenceNumber\":\"12\",\"subSequenceNumber\":-1", "subSequenceNumber", "-1")]
    [InlineData("\"sequenceNumber\":\"12\",\"subSequenceNumber\":1.5", "subSequenceNumber", "1.5")]
    [InlineData("\"sequenceNumber\":\"12\",\"subSequenceNumber\":\"3\"", "subSequenceNumber", "\"3\"")]
    [InlineData("\"sequenceNumber\":\"12\",\"subSequenceNumber\":null", "subSequenceNumber", "null")]
    [InlineData("\"sequenceNumber\":\"12\"", "subSequenceNumber", "missing")]
    public async Task An_invalid_value_stops_the_reader_naming_file_field_and_value(string entry, string field, string shown)
    {
        string file = await WriteAsync($"{{\"version\":1,\"consumer\":\"orders\",\"stream\":\"stream\",\"shards\":{{\"shard-0\":{{{entry}}}}}}}");

        InvalidDataException error = await Assert.ThrowsAsync<InvalidDataException>(async () => await new FileCheckpointStore(_directory).GetAsync(Key, default));
        Assert.Contains($"Checkpoint file '{file}', shard 'shard-0': {field} is {shown}, but it ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_shard_without_an_entry_still_reads_as_no_checkpoint_and_saving_none_removes_the_entry()
    {
        var store = new FileCheckpointStore(_directory);
        await store.SaveAsync(Key, SequenceNumber.FromInteger(5), default);
        await store.SaveAsync(Key with { Shard = "shard-1" }, SequenceNumber.FromInteger(7), default);
        await store.SaveAsync(Key, SequenceNumber.None, default);

        var reopened = new FileCheckpointStore(_directory);
        Assert.True((await reopened.GetAsync(Key, default)).IsNone);
        Assert.Equal(SequenceNumber.FromInteger(7), await reopened.GetAsync(Key with { Shard = "shard-1" }, default));
    }

    [Fact]
    public async Task A_huge_sequence_number_and_SHARD_END_are_valid_values()
    {
        string huge = new('9', 60);
        await WriteAsync($"{{\"version\":1,\"shards\":{{\"shard-0\":{{\"sequenceNumber\":\"{huge}\",\"subSequenceNumber\":9223372036854775807}},\"shard-1\":{{\"sequenceNumber\":\"SHARD_END\",\"subSequenceNumber\":0}}}}}}");
        var store = new FileCheckpointStore(_directory);
        Assert.Equal(new SequenceNumber(huge, long.MaxValue), await store.GetAsync(Key, default));
        Assert.True((await store.GetAsync(Key with { Shard = "shard-1" }, default)).IsShardEnd);
    }

    [Fact]
    public async Task A_directory_another_process_holds_is_refused_naming_it_and_is_free_once_the_stores_are_disposed()
    {
        Directory.CreateDirectory(_directory);
        string lockFile = Path.Combine(_directory, ".lock");
        using (new FileStream(lockFile, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            // A separate open of the lock file is what another process does.
            using var refused = new FileCheckpointStore(_directory);
            IOException error = await Assert.ThrowsAsync<IOException>(async () => await refused.GetAsync(Key, default));
            Assert.Contains($"The checkpoint directory '{Path.GetFullPath(_directory)}' is in use by another process", error.Message, StringComparison.Ordinal);
        }

        var first = new FileCheckpointStore(_directory);
        var second = new FileCheckpointStore(_directory);
        await first.SaveAsync(Key, SequenceNumber.FromInteger(1), default);
        Assert.Equal(SequenceNumber.FromInteger(1), await second.GetAsync(Key, default));
        first.Dispose();
        Assert.ThrowsAny<IOException>(() => new FileStream(lockFile, FileMode.Open, FileAccess.ReadWrite, FileShare.None).Dispose());
        second.Dispose();
        using (new FileStream(lockFile, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
        }
    }

    private async Task<string> WriteAsync(string json)
    {
        // The store decides the file name; write a valid checkpoint first to learn it, then overwrite it.
        var store = new FileCheckpointStore(_directory);
        await store.SaveAsync(Key, SequenceNumber.FromInteger(1), default);
        string file = Directory.GetFiles(_directory, "*.checkpoints.json").Single();
        await File.WriteAllTextAsync(file, json);
        return file;
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
