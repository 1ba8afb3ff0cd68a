using Microsoft.Extensions.DependencyInjection;
using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.Sources;

/// <summary>A corrupt checkpoint stops the consumer at start with one message naming the file, the field and the value.</summary>
public sealed class InMemoryCheckpointTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "streamlanes-tests", Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task SHARD_END_on_an_open_shard_stops_the_consumer_instead_of_skipping_its_records()
    {
        var stream = new InMemoryStream("orders");
        stream.Put("k", "{}");
        var store = new FileCheckpointStore(_directory);
        await store.SaveAsync(new CheckpointKey("orders", "orders", stream.ShardIds[0]), SequenceNumber.ShardEnd, default);
        string file = Directory.GetFiles(_directory, "*.checkpoints.json").Single();
        var handler = new RecordingHandler();
        await using ConsumerHarness harness = ConsumerHarness.Create(stream, handler, checkpoints: new FileCheckpointStore(_directory));

        InvalidDataException error = await Assert.ThrowsAsync<InvalidDataException>(harness.StartAsync);
        Assert.Contains($"checkpoint file '{file}', field shards.{stream.ShardIds[0]}.sequenceNumber", error.Message, StringComparison.Ordinal);
        Assert.Contains("is SHARD_END, but the shard is open", error.Message, StringComparison.Ordinal);
        Assert.Empty(handler.Calls);
    }

    [Fact]
    public async Task SHARD_END_on_a_sealed_shard_is_the_normal_end()
    {
        var stream = new InMemoryStream("orders");
        stream.Put("k", "{}");
        stream.Seal();
        var store = new FileCheckpointStore(_directory);
        await store.SaveAsync(new CheckpointKey("orders", "orders", stream.ShardIds[0]), SequenceNumber.ShardEnd, default);
        var handler = new RecordingHandler();
        await using ConsumerHarness harness = ConsumerHarness.Create(stream, handler, checkpoints: new FileCheckpointStore(_directory));
        await harness.StartAsync();
        Assert.Equal(0, harness.Consumer.GetStatus().OpenShards);
    }

    [Fact]
    public async Task An_empty_sequence_number_stops_the_consumer_instead_of_reprocessing_the_shard()
    {
        var stream = new InMemoryStream("orders");
        stream.Put("k", "{}");
        var store = new FileCheckpointStore(_directory);
        await store.SaveAsync(new CheckpointKey("orders", "orders", stream.ShardIds[0]), SequenceNumber.FromInteger(1), default);
        string file = Directory.GetFiles(_directory, "*.checkpoints.json").Single();
        await File.WriteAllTextAsync(file, (await File.ReadAllTextAsync(file)).Replace("\"1\"", "\"\"", StringComparison.Ordinal));
        var handler = new RecordingHandler();
        await using ConsumerHarness harness = ConsumerHarness.Create(stream, handler, checkpoints: new FileCheckpointStore(_directory));

        InvalidDataException error = await Assert.ThrowsAsync<InvalidDataException>(harness.StartAsync);
        Assert.Contains(file, error.Message, StringComparison.Ordinal);
        Assert.Contains("sequenceNumber is \"\"", error.Message, StringComparison.Ordinal);
        Assert.Empty(handler.Calls);
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
