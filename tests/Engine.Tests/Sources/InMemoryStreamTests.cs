using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.Sources;

public sealed class InMemoryStreamTests
{
    [Fact]
    public void Keys_map_to_shards_stably_and_sequence_numbers_grow_per_shard()
    {
        var stream = new InMemoryStream("s", shardCount: 3);
        StreamRecord first = stream.Put("alpha", "1");
        StreamRecord second = stream.Put("alpha", "2");
        Assert.Equal(first.ShardId, second.ShardId);
        Assert.Equal(stream.ShardIds[stream.ShardIndexOf("alpha")], first.ShardId);
        Assert.True(second.Position > first.Position);
        Assert.Equal(new InMemoryStream("t", shardCount: 3).ShardIndexOf("alpha"), stream.ShardIndexOf("alpha"));
    }

    [Fact]
    public void Retention_drops_the_oldest_records_but_keeps_numbering()
    {
        var stream = new InMemoryStream("s", shardCount: 1, retainedRecordsPerShard: 100);
        for (int i = 0; i < 1000; i++)
        {
            stream.Put("k", "x");
        }

        IReadOnlyList<StreamRecord> kept = stream.Records(0);
        Assert.InRange(kept.Count, 90, 100);
        Assert.Equal(SequenceNumber.FromInteger(1000), kept[^1].Position);
        Assert.Equal(1000, stream.Count);
    }

    [Fact]
    public async Task A_reader_behind_the_retention_resumes_at_the_oldest_record_kept()
    {
        var stream = new InMemoryStream("s", shardCount: 1, retainedRecordsPerShard: 50);
        for (int i = 0; i < 500; i++)
        {
            stream.Put($"k{i % 5}", "x");
        }

        var handler = new RecordingHandler();
        await using var harness = ConsumerHarness.Create(stream, handler);
        await harness.StartAsync();
        await harness.WaitUntilAsync(status => status.Handled == stream.Records(0).Count);
        Assert.Equal(stream.Records(0).Select(r => r.Position), handler.Calls.OrderBy(c => c.Record.Position).Select(c => c.Record.Position));
    }

    [Fact]
    public void Appending_a_record_out_of_order_is_refused()
    {
        var stream = new InMemoryStream("s");
        var wrong = new StreamRecord(SourceKind.InMemory, "s", stream.ShardIds[0], SequenceNumber.FromInteger(5), "k", Array.Empty<byte>(), DateTimeOffset.UtcNow);
        Assert.Throws<ArgumentException>(() => stream.Append(wrong));
        stream.Seal();
        Assert.Throws<InvalidOperationException>(() => stream.Put("k", "x"));
    }
}
