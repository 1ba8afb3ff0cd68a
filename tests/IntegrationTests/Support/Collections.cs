using StreamLanes.TestInfrastructure;

namespace StreamLanes.IntegrationTests.Support;

/// <summary>kinesis-mock and DynamoDB Local together: the Kinesis source keeps its leases in DynamoDB.</summary>
public sealed class KinesisAndDynamoDbFixture : IAsyncLifetime
{
    public KinesisEmulatorFixture Kinesis { get; } = new();

    public DynamoDbEmulatorFixture DynamoDb { get; } = new();

    public async Task InitializeAsync()
    {
        await Task.WhenAll(Kinesis.InitializeAsync(), DynamoDb.InitializeAsync());
    }

    public async Task DisposeAsync()
    {
        await Task.WhenAll(Kinesis.DisposeAsync(), DynamoDb.DisposeAsync());
    }
}

[CollectionDefinition(Name)]
public sealed class KinesisCollection : ICollectionFixture<KinesisAndDynamoDbFixture>
{
    public const string Name = "Kinesis and DynamoDB emulators";
}

[CollectionDefinition(EmulatorCollections.DynamoDb)]
public sealed class DynamoDbCollection : ICollectionFixture<DynamoDbEmulatorFixture>;

[CollectionDefinition(EmulatorCollections.Sqs)]
public sealed class SqsCollection : ICollectionFixture<SqsEmulatorFixture>;

/// <summary>fauxqs and DynamoDB Local together: an SQS consumer that keeps its parked groups in DynamoDB.</summary>
public sealed class SqsAndDynamoDbFixture : IAsyncLifetime
{
    public SqsEmulatorFixture Sqs { get; } = new();

    public DynamoDbEmulatorFixture DynamoDb { get; } = new();

    public async Task InitializeAsync()
    {
        await Task.WhenAll(Sqs.InitializeAsync(), DynamoDb.InitializeAsync());
    }

    public async Task DisposeAsync()
    {
        await Task.WhenAll(Sqs.DisposeAsync(), DynamoDb.DisposeAsync());
    }
}

[CollectionDefinition(Name)]
public sealed class SqsAndDynamoDbCollection : ICollectionFixture<SqsAndDynamoDbFixture>
{
    public const string Name = "SQS and DynamoDB emulators";
}
