using Amazon.DynamoDBv2;
using Amazon.S3;
using StreamLanes.Sinks.Tests.Contract;
using StreamLanes.Sinks.Tests.Envelope;
using StreamLanes.Sinks.Tests.Support;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.Sinks.Tests.Aws;

[Collection(EmulatorCollections.DynamoDb)]
public sealed class DynamoDbDeadLetterSinkContractTests(DynamoDbEmulatorFixture emulator) : DeadLetterStoreContractTests, IDisposable
{
    private readonly AmazonDynamoDBClient _client = emulator.CreateDynamoDbClient();
    private DynamoDbDeadLetterSink? _sink;

    protected override IDeadLetterSink CreateSink()
        => _sink ??= new DynamoDbDeadLetterSink(_client, new DynamoDbDeadLetterSinkOptions { TableName = EmulatorFixture.UniqueName("dlq") });

    public void Dispose()
    {
        _sink?.Dispose();
        _client.Dispose();
    }
}

[Collection(EmulatorCollections.DynamoDb)]
public sealed class DynamoDbDeadLetterSinkTests(DynamoDbEmulatorFixture dynamoDb, SqsEmulatorFixture fauxqs)
{
    [Fact]
    public async Task Text_binary_and_a_payload_over_the_item_limit_round_trip_byte_for_byte_the_large_one_through_S3()
    {
        using AmazonDynamoDBClient client = dynamoDb.CreateDynamoDbClient();
        using AmazonS3Client s3 = AwsTestClients.S3(fauxqs);
        S3ClaimCheck claimCheck = await AwsTestClients.ClaimCheckAsync(s3);
        using var sink = new DynamoDbDeadLetterSink(client, new DynamoDbDeadLetterSinkOptions { TableName = EmulatorFixture.UniqueName("dlq") }, claimCheck);

        byte[] text = "{\"orderId\":42,\"note\":\"ünïcødé\"}"u8.ToArray();
        byte[] binary = [.. Enumerable.Range(0, 256).Select(i => (byte)i)];
        byte[] large = new byte[450_000];
        new Random(11).NextBytes(large);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample(text, "text", "1"), default);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample(binary, "binary", "2"), default);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample(large, "large", "3"), default);

        IReadOnlyList<DeadLetterEnvelope> read = await new DeadLetterRedriver(sink).ListAsync();
        Assert.Equal(text, read.Single(e => e.PartitionKey == "text").Payload.ToArray());
        Assert.Equal(binary, read.Single(e => e.PartitionKey == "binary").Payload.ToArray());
        Assert.Equal(large, read.Single(e => e.PartitionKey == "large").Payload.ToArray());
    }

    [Fact]
    public async Task A_keys_dead_letters_are_listed_in_numeric_sequence_order_and_a_retried_write_overwrites()
    {
        using AmazonDynamoDBClient client = dynamoDb.CreateDynamoDbClient();
        using var sink = new DynamoDbDeadLetterSink(client, new DynamoDbDeadLetterSinkOptions { TableName = EmulatorFixture.UniqueName("dlq") });
        string[] sequences = ["100", "9", "49590338271490256608559692538361571095921575989136588898", "10"];
        foreach (string sequence in sequences)
        {
            await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([1], "k", sequence), default);
        }

        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([1], "k", "10"), default);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([1], "other", "1"), default);

        var read = new List<string>();
        await foreach (StoredDeadLetter letter in sink.ReadAsync(new DeadLetterFilter { Consumer = "orders", PartitionKey = "k" }))
        {
            read.Add(letter.Envelope.SequenceNumber);
        }

        Assert.Equal(["9", "10", "100", "49590338271490256608559692538361571095921575989136588898"], read);
    }

    [Fact]
    public async Task During_an_outage_writes_fail_and_once_back_everything_is_written_once()
    {
        using AmazonDynamoDBClient inner = dynamoDb.CreateDynamoDbClient();
        (IAmazonDynamoDB client, FaultyProxy<IAmazonDynamoDB> control) = FaultyProxy.Create<IAmazonDynamoDB>(inner);
        using var sink = new DynamoDbDeadLetterSink(client, new DynamoDbDeadLetterSinkOptions { TableName = EmulatorFixture.UniqueName("dlq") });
        await sink.EnsureTableAsync();

        control.Down = true;
        for (int i = 0; i < 3; i++)
        {
            await Assert.ThrowsAnyAsync<Amazon.Runtime.AmazonServiceException>(async () => await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([1], "k", "1"), default));
        }

        control.Down = false;
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([1], "k", "1"), default);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([1], "k", "1"), default);
        Assert.Single(await new DeadLetterRedriver(sink).ListAsync());
        Assert.True(control.Failures >= 3);
    }
}
