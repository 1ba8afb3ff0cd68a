using StreamLanes.Checkpointing;
using StreamLanes.Checkpointing.Tests.Leases;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.IntegrationTests.Leases;

/// <summary>The lease-table contract on DynamoDB Local, each test on a fresh table.</summary>
[Collection(EmulatorCollections.DynamoDb)]
public sealed class DynamoDbLeaseTableContractTests(DynamoDbEmulatorFixture dynamoDb) : LeaseTableContract, IDisposable
{
    private readonly Amazon.DynamoDBv2.AmazonDynamoDBClient _client = dynamoDb.CreateDynamoDbClient();

    internal override async Task<ILeaseTable> CreateTableAsync()
    {
        var table = new DynamoDbLeaseTable(_client, EmulatorFixture.UniqueName("leases"));
        await table.EnsureExistsAsync(create: true, default);
        return table;
    }

    public void Dispose() => _client.Dispose();
}
