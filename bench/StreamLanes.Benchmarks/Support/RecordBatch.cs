using StreamLanes.Checkpointing;

namespace StreamLanes.Benchmarks.Support;

/// <summary>Builds records ahead of a measurement: keys round-robin, sequence numbers continuing a shard's last one.</summary>
internal static class RecordBatch
{
    private static readonly ReadOnlyMemory<byte> Payload = new byte[64];

    public static string[] Keys(int count) => [.. Enumerable.Range(0, count).Select(static i => $"key-{i:D7}")];

    /// <summary>Builds <paramref name="count"/> records for one shard, numbered from <paramref name="nextSequence"/> on.</summary>
    public static StreamRecord[] Build(string streamName, string shardId, string[] keys, int count, ref ulong nextSequence)
    {
        var records = new StreamRecord[count];
        DateTimeOffset now = DateTimeOffset.UtcNow;
        for (int i = 0; i < count; i++)
        {
            records[i] = new StreamRecord(
                SourceKind.InMemory,
                streamName,
                shardId,
                SequenceNumber.FromInteger(nextSequence++),
                keys[i % keys.Length],
                Payload,
                now);
        }

        return records;
    }
}
