using StreamLanes.TestInfrastructure;

namespace StreamLanes.Aws.Tests;

// xunit 2 reads collection definitions only from the test assembly, so each test project declares these.
[CollectionDefinition(EmulatorCollections.Kinesis)]
public sealed class KinesisEmulatorGroup : ICollectionFixture<KinesisEmulatorFixture>;

[CollectionDefinition(EmulatorCollections.DynamoDb)]
public sealed class DynamoDbEmulatorGroup : ICollectionFixture<DynamoDbEmulatorFixture>;

[CollectionDefinition(EmulatorCollections.Sqs)]
public sealed class SqsEmulatorGroup : ICollectionFixture<SqsEmulatorFixture>;
