using System.Text;
using StreamLanes.Aws;
using StreamLanes.Checkpointing;

namespace StreamLanes.IntegrationTests.Support;

/// <summary>A fresh stream on kinesis-mock and what was put into it, as <see cref="StreamRecord"/>s for the checker.</summary>
internal sealed class KinesisTestStream(KinesisClient client, string name)
{
    private readonly List<StreamRecord> _put = [];

    public string Name => name;

    public KinesisClient Client => client;

    public IReadOnlyList<StreamRecord> Put
    {
        get
        {
            lock (_put)
            {
                return [.. _put];
            }
        }
    }

    public static async Task<KinesisTestStream> CreateAsync(KinesisClient client, string name, int shards)
    {
        await client.CreateStreamAsync(name, shards);
        await client.WaitForStreamActiveAsync(name);
        return new KinesisTestStream(client, name);
    }

    /// <summary>Puts records in batches of up to 500; every record's payload names its key and index.</summary>
    public async Task PutAsync(IEnumerable<string> keys)
    {
        foreach (string[] batch in keys.Chunk(500))
        {
            int offset;
            lock (_put)
            {
                offset = _put.Count;
            }

            var entries = batch.Select((key, i) => new KinesisPutRecordsEntry { PartitionKey = key, Data = Encoding.UTF8.GetBytes($"{{\"key\":\"{key}\",\"n\":{offset + i}}}") }).ToList();
            IReadOnlyList<KinesisPutRecordsEntry> pending = entries;
            while (pending.Count > 0)
            {
                KinesisPutRecordsResponse response = await client.PutRecordsAsync(name, pending);
                var retry = new List<KinesisPutRecordsEntry>();
                for (int i = 0; i < pending.Count; i++)
                {
                    KinesisPutRecordsResultEntry result = response.Records[i];
                    if (result.SequenceNumber is { } sequence && result.ShardId is { } shard)
                    {
                        lock (_put)
                        {
                            _put.Add(new StreamRecord(SourceKind.Kinesis, name, shard, new SequenceNumber(sequence), pending[i].PartitionKey, pending[i].Data, DateTimeOffset.UtcNow));
                        }
                    }
                    else
                    {
                        retry.Add(pending[i]);
                    }
                }

                pending = retry;
            }
        }
    }
}
