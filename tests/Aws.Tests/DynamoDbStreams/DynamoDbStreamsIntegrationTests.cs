using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.Aws.Tests;

[Collection(EmulatorCollections.DynamoDb)]
public sealed class DynamoDbStreamsIntegrationTests(DynamoDbEmulatorFixture emulator) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly AmazonDynamoDBClient _dynamo = emulator.CreateDynamoDbClient();
    private readonly DynamoDbStreamsClient _streams = emulator.CreateStreamsClient();
    private readonly string _table = EmulatorFixture.UniqueName("sl-table");
    private string _streamArn = string.Empty;

    public async Task InitializeAsync()
    {
        var created = await _dynamo.CreateTableAsync(new CreateTableRequest
        {
            TableName = _table,
            KeySchema = [new KeySchemaElement("pk", KeyType.HASH)],
            AttributeDefinitions = [new AttributeDefinition("pk", ScalarAttributeType.S)],
            BillingMode = BillingMode.PAY_PER_REQUEST,
            StreamSpecification = new StreamSpecification { StreamEnabled = true, StreamViewType = StreamViewType.NEW_AND_OLD_IMAGES },
        });
        _streamArn = created.TableDescription.LatestStreamArn;
    }

    public async Task DisposeAsync()
    {
        try
        {
            await _dynamo.DeleteTableAsync(_table);
        }
        finally
        {
            _dynamo.Dispose();
            _streams.Dispose();
        }
    }

    [Fact]
    public async Task Stream_is_listed_and_described()
    {
        var listed = await _streams.ListStreamsAsync(_table);
        var summary = Assert.Single(listed.Streams);
        Assert.Equal(_streamArn, summary.StreamArn);
        Assert.Equal(_table, summary.TableName);

        var description = await _streams.DescribeStreamAllShardsAsync(_streamArn, pageSize: 1);
        Assert.Equal(_streamArn, description.StreamArn);
        Assert.Equal("ENABLED", description.StreamStatus);
        Assert.Equal("NEW_AND_OLD_IMAGES", description.StreamViewType);
        Assert.Equal(_table, description.TableName);
        Assert.Equal("pk", Assert.Single(description.KeySchema).AttributeName);
        Assert.NotEmpty(description.Shards);
        Assert.Null(description.LastEvaluatedShardId);
    }

    [Fact]
    public async Task Inserts_updates_and_deletes_arrive_in_order_with_their_images()
    {
        await Put("order-1", 1);
        await Put("order-2", 1);
        await Put("order-1", 2);
        await _dynamo.DeleteItemAsync(_table, new Dictionary<string, AttributeValue> { ["pk"] = new("order-2") });

        var records = await ReadAllAsync(DynamoDbShardIteratorType.TrimHorizon, expected: 4);

        Assert.Equal(["INSERT", "INSERT", "MODIFY", "REMOVE"], records.Select(r => r.EventName));
        Assert.Equal(
            ["order-1", "order-2", "order-1", "order-2"],
            records.Select(r => r.Dynamodb.Keys["pk"].GetProperty("S").GetString()));

        var modify = records[2];
        Assert.Equal("2", modify.Dynamodb.NewImage!["n"].GetProperty("N").GetString());
        Assert.Equal("1", modify.Dynamodb.OldImage!["n"].GetProperty("N").GetString());
        Assert.Null(records[0].Dynamodb.OldImage);
        Assert.Null(records[3].Dynamodb.NewImage);
        Assert.All(records, r =>
        {
            Assert.False(string.IsNullOrEmpty(r.EventId));
            Assert.False(string.IsNullOrEmpty(r.Dynamodb.SequenceNumber));
            Assert.NotNull(r.Dynamodb.ApproximateCreationDateTime);
            Assert.Equal("NEW_AND_OLD_IMAGES", r.Dynamodb.StreamViewType);
        });

        // Resuming after a checkpoint skips what was handled.
        var shardId = (await _streams.DescribeStreamAllShardsAsync(_streamArn)).Shards[^1].ShardId;
        var iterator = await _streams.GetShardIteratorAsync(
            _streamArn, shardId, DynamoDbShardIteratorType.AfterSequenceNumber, records[1].Dynamodb.SequenceNumber);
        var resumed = await _streams.GetRecordsAsync(iterator, limit: 10);
        Assert.Equal(["MODIFY", "REMOVE"], resumed.Records.Select(r => r.EventName));

        var at = await _streams.GetShardIteratorAsync(
            _streamArn, shardId, DynamoDbShardIteratorType.AtSequenceNumber, records[3].Dynamodb.SequenceNumber);
        Assert.Equal("REMOVE", Assert.Single((await _streams.GetRecordsAsync(at)).Records).EventName);
    }

    [Fact]
    public async Task Latest_iterator_sees_only_later_changes()
    {
        await Put("early", 1);
        var shardId = (await _streams.DescribeStreamAllShardsAsync(_streamArn)).Shards[^1].ShardId;
        var iterator = await _streams.GetShardIteratorAsync(_streamArn, shardId, DynamoDbShardIteratorType.Latest);

        await Put("late", 1);
        var response = await _streams.GetRecordsAsync(iterator);

        Assert.Equal("late", Assert.Single(response.Records).Dynamodb.Keys["pk"].GetProperty("S").GetString());
        Assert.NotNull(response.NextShardIterator);
    }

    [Fact]
    public async Task Unknown_stream_is_ResourceNotFound()
    {
        var missing = _streamArn.Replace(_table, EmulatorFixture.UniqueName("missing"), StringComparison.Ordinal);

        var error = await Assert.ThrowsAsync<AwsServiceException>(() => _streams.DescribeStreamAsync(missing));

        Assert.Equal(AwsErrorKind.ResourceNotFound, error.Kind);
        Assert.Equal("DynamoDBStreams", error.Service);
    }

    [Fact]
    public async Task Garbage_iterator_is_a_validation_error()
    {
        var error = await Assert.ThrowsAsync<AwsServiceException>(() => _streams.GetRecordsAsync("not-an-iterator"));

        Assert.Equal(AwsErrorKind.Validation, error.Kind);
    }

    private async Task Put(string key, int n) =>
        await _dynamo.PutItemAsync(_table, new Dictionary<string, AttributeValue>
        {
            ["pk"] = new(key),
            ["n"] = new() { N = n.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        });

    private async Task<List<DynamoDbChangeRecord>> ReadAllAsync(DynamoDbShardIteratorType type, int expected)
    {
        using var cts = new CancellationTokenSource(Patience);
        var records = new List<DynamoDbChangeRecord>();
        var description = await _streams.DescribeStreamAllShardsAsync(_streamArn, cancellationToken: cts.Token);
        foreach (var shard in description.Shards)
        {
            var iterator = await _streams.GetShardIteratorAsync(_streamArn, shard.ShardId, type, cancellationToken: cts.Token);
            for (var calls = 0; calls < 10 && iterator is not null; calls++)
            {
                var response = await _streams.GetRecordsAsync(iterator, limit: 100, cts.Token);
                records.AddRange(response.Records);
                iterator = response.NextShardIterator;
                if (response.Records.Count == 0)
                {
                    break;
                }
            }
        }

        Assert.Equal(expected, records.Count);
        return records;
    }
}
