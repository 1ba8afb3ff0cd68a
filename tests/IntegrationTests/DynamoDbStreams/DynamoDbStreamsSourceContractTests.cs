using System.Text;
using System.Text.RegularExpressions;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Microsoft.Extensions.Logging.Abstractions;
using StreamLanes.Engine.Tests.Sources.Contract;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.IntegrationTests.DynamoDbStreams;

/// <summary>
/// The <see cref="IStreamSource"/> contract for the DynamoDB Streams source on DynamoDB Local (its table's stream,
/// its leases in the same emulator). Each put writes the item of its key again, so a key's changes follow each other
/// in its shard; the payload is read back from the change's new image.
/// </summary>
[Collection(EmulatorCollections.DynamoDb)]
public sealed partial class DynamoDbStreamsSourceContractTests(DynamoDbEmulatorFixture dynamoDb) : StreamSourceContract
{
    internal override async Task<ContractStream> CreateStreamAsync(int shards)
    {
        string table = EmulatorFixture.UniqueName("contract");
        AmazonDynamoDBClient client = dynamoDb.CreateDynamoDbClient();
        await client.CreateTableAsync(new CreateTableRequest
        {
            TableName = table,
            KeySchema = [new KeySchemaElement("pk", KeyType.HASH)],
            AttributeDefinitions = [new AttributeDefinition("pk", ScalarAttributeType.S)],
            BillingMode = BillingMode.PAY_PER_REQUEST,
            StreamSpecification = new StreamSpecification { StreamEnabled = true, StreamViewType = StreamViewType.NEW_IMAGE },
        });
        return new TableStream(dynamoDb, client, table, EmulatorFixture.UniqueName("contract-leases"));
    }

    [GeneratedRegex(@"[A-Za-z0-9-]+#\d{5}")]
    private static partial Regex PayloadPattern();

    private sealed class TableStream(DynamoDbEmulatorFixture dynamoDb, AmazonDynamoDBClient client, string table, string leaseTable) : ContractStream
    {
        private int _index;

        public override string Name => table;

        public override async Task PutAsync(IReadOnlyList<string> keys)
        {
            foreach (string key in keys)
            {
                await client.PutItemAsync(table, new Dictionary<string, AttributeValue>
                {
                    ["pk"] = new() { S = key },
                    ["payload"] = new() { S = Payload(key, _index++) },
                });
            }
        }

        public override string PayloadOf(StreamRecord record)
            => Assert.Single(PayloadPattern().Matches(Encoding.UTF8.GetString(record.Data.Span))).Value;

        public override ContractSource CreateSource(string workerId)
        {
            var options = new DynamoDbStreamsSourceOptions
            {
                Stream = table,
                Aws = dynamoDb.CreateClientOptions(),
                DynamoDbServiceUrl = dynamoDb.ServiceUrl,
                IdleTimeBetweenReads = TimeSpan.FromMilliseconds(100),
                MinTimeBetweenReads = TimeSpan.FromMilliseconds(50),
            };
            options.Leases.TableName = leaseTable;
            options.Leases.WorkerId = workerId;
            options.Leases.FailoverTime = TimeSpan.FromMinutes(5);
            var source = new DynamoDbStreamsSource(options, new DynamoDbStreamsClient(options.Aws), dynamoDb.CreateDynamoDbClient(), TimeProvider.System, NullLogger.Instance);
            return new ContractSource(source, source.DisposeAsync);
        }

        protected override void Release() => client.Dispose();
    }
}
