using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using StreamLanes.Engine.Tests.Sources.Contract;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.IntegrationTests.Kinesis;

/// <summary>
/// The <see cref="IStreamSource"/> contract for the Kinesis source (polling) on kinesis-mock, its leases on DynamoDB
/// Local. The failover time is far above the contract's progress bound, so a second source reading at once proves the
/// first one released its leases rather than let them expire.
/// </summary>
[Collection(KinesisCollection.Name)]
public sealed class KinesisSourceContractTests(KinesisAndDynamoDbFixture emulators) : StreamSourceContract
{
    internal override async Task<ContractStream> CreateStreamAsync(int shards)
    {
        KinesisClient client = emulators.Kinesis.CreateKinesisClient();
        string name = EmulatorFixture.UniqueName("contract");
        await client.CreateStreamAsync(name, shards);
        await client.WaitForStreamActiveAsync(name);
        return new KinesisContractStream(emulators, client, name, EmulatorFixture.UniqueName("contract-leases"));
    }

    private sealed class KinesisContractStream(KinesisAndDynamoDbFixture emulators, KinesisClient client, string name, string leaseTable) : ContractStream
    {
        private int _index;

        public override string Name => name;

        public override async Task PutAsync(IReadOnlyList<string> keys)
        {
            IReadOnlyList<KinesisPutRecordsEntry> pending = [.. keys.Select(key => new KinesisPutRecordsEntry { PartitionKey = key, Data = Encoding.UTF8.GetBytes(Payload(key, _index++)) })];
            while (pending.Count > 0)
            {
                KinesisPutRecordsResponse response = await client.PutRecordsAsync(name, pending);
                pending = [.. pending.Where((_, i) => response.Records[i].SequenceNumber is null)];
            }
        }

        public override ContractSource CreateSource(string workerId)
        {
            var options = new KinesisSourceOptions
            {
                StreamName = name,
                Aws = emulators.Kinesis.CreateClientOptions(),
                IdleTimeBetweenReads = TimeSpan.FromMilliseconds(100),
                MinTimeBetweenReads = TimeSpan.FromMilliseconds(50),
            };
            options.Leases.TableName = leaseTable;
            options.Leases.WorkerId = workerId;
            options.Leases.FailoverTime = TimeSpan.FromMinutes(5);
            var source = new KinesisSource(options, new KinesisClient(options.Aws), emulators.DynamoDb.CreateDynamoDbClient(), TimeProvider.System, NullLogger.Instance);
            return new ContractSource(source, source.DisposeAsync);
        }

        protected override void Release() => client.Dispose();
    }
}
