using System.Text.Json;
using Amazon.S3;
using StreamLanes.Aws;
using StreamLanes.Sinks;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.Cli.Tests;

[CollectionDefinition("CLI emulators")]
public sealed class CliEmulators : ICollectionFixture<SqsEmulatorFixture>, ICollectionFixture<DynamoDbEmulatorFixture>, ICollectionFixture<KinesisEmulatorFixture>;

[Collection("CLI emulators")]
public sealed class CliTests(SqsEmulatorFixture fauxqs, DynamoDbEmulatorFixture dynamoDb, KinesisEmulatorFixture kinesis) : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "streamlanes-cli-tests", Guid.NewGuid().ToString("N"));

    static CliTests()
    {
        // The tool resolves AWS credentials through the SDK's default chain, as an operator's shell would.
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", "test");
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", "test");
        Environment.SetEnvironmentVariable("AWS_REGION", EmulatorFixture.Region);
    }

    private static DeadLetterEnvelope Letter(string key, string sequence, byte[]? payload = null, string consumer = "orders", SourceKind sourceKind = SourceKind.Kinesis, string stream = "orders-stream", DeadLetterReason reason = DeadLetterReason.RetriesExhausted) => new()
    {
        Consumer = consumer,
        SourceKind = sourceKind,
        Stream = stream,
        Shard = "shardId-000000000000",
        SequenceNumber = sequence,
        PartitionKey = key,
        ArrivalTime = DateTimeOffset.UnixEpoch,
        Payload = payload ?? "{\"n\":1}"u8.ToArray(),
        Reason = reason,
        Attempts = [DeadLetterAttempt.FromException(1, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, new TimeoutException("slow"))],
        DeadLetteredAt = new DateTimeOffset(2026, 11, 22, 6, 0, 0, TimeSpan.Zero),
    };

    private static async Task<(int Exit, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = await StreamLanesCli.RunAsync(args, output, error, CancellationToken.None);
        return (exit, output.ToString(), error.ToString());
    }

    private async Task<string> FileWithAsync(params DeadLetterEnvelope[] letters)
    {
        string path = Path.Combine(_directory, "dead-letters.jsonl");
        await using var sink = new JsonLinesDeadLetterSink(path);
        foreach (DeadLetterEnvelope letter in letters)
        {
            await sink.WriteAsync(letter, default);
        }

        return path;
    }

    [Fact]
    public async Task Usage_errors_exit_with_2_and_say_what_is_wrong()
    {
        (int exit, _, string error) = await RunAsync("dlq", "list");
        Assert.Equal(2, exit);
        Assert.Contains("Choose exactly one store", error);

        (exit, _, error) = await RunAsync("dlq", "list", "--file", "x.jsonl", "--no-such-option");
        Assert.Equal(2, exit);
        Assert.Contains("--no-such-option", error);

        (exit, _, error) = await RunAsync("dlq", "purge", "--file", "x.jsonl");
        Assert.Equal(2, exit);
        Assert.Contains("--all", error);

        (exit, _, error) = await RunAsync("dlq", "purge", "--file", "x.jsonl", "--all", "--rate", "-1");
        Assert.Equal(2, exit);
        Assert.Contains("--rate", error);

        (exit, _, _) = await RunAsync("dlq", "list", "--file", "x.jsonl", "--output", "xml");
        Assert.Equal(2, exit);
    }

    [Fact]
    public async Task List_show_and_purge_a_file_with_filters_table_and_json()
    {
        string path = await FileWithAsync(Letter("a", "1"), Letter("b", "2", reason: DeadLetterReason.NonRetryable), Letter("a", "3", consumer: "billing"));

        (int exit, string output, _) = await RunAsync("dlq", "list", "--file", path);
        Assert.Equal(0, exit);
        Assert.Contains("CONSUMER", output);
        Assert.Contains("3 dead letter(s)", output);

        (exit, output, _) = await RunAsync("dlq", "list", "--file", path, "--consumer", "orders", "--output", "json");
        Assert.Equal(0, exit);
        using (JsonDocument json = JsonDocument.Parse(output))
        {
            Assert.Equal(["a", "b"], json.RootElement.EnumerateArray().Select(e => e.GetProperty("partitionKey").GetString()));
        }

        (exit, output, _) = await RunAsync("dlq", "show", "--file", path, "--key", "b", "--output", "json");
        Assert.Equal(0, exit);
        using (JsonDocument json = JsonDocument.Parse(output))
        {
            Assert.Equal(Convert.ToBase64String("{\"n\":1}"u8.ToArray()), json.RootElement[0].GetProperty("payload").GetString());
        }

        (exit, output, _) = await RunAsync("dlq", "purge", "--file", path, "--reason", "NonRetryable", "--dry-run");
        Assert.Equal(0, exit);
        Assert.Contains("DryRun: 1", output);
        Assert.Equal(3, (await JsonLinesDeadLetterSink.ReadAllAsync(path)).Count);

        (exit, output, _) = await RunAsync("dlq", "purge", "--file", path, "--reason", "NonRetryable", "--output", "json");
        Assert.Equal(0, exit);
        using (JsonDocument json = JsonDocument.Parse(output))
        {
            Assert.Equal(1, json.RootElement.GetProperty("counts").GetProperty("Purged").GetInt32());
        }

        Assert.Equal(["1", "3"], (await JsonLinesDeadLetterSink.ReadAllAsync(path)).Select(e => e.SequenceNumber));
    }

    [Fact]
    public async Task Sqs_store_with_S3_claim_check_lists_and_republishes_to_a_FIFO_queue_in_key_order()
    {
        using SqsClient sqs = new(fauxqs.CreateClientOptions());
        using var s3 = new AmazonS3Client(EmulatorFixture.TestCredentials, new AmazonS3Config { ServiceURL = fauxqs.ServiceUrl.ToString(), ForcePathStyle = true, AuthenticationRegion = EmulatorFixture.Region });
        string bucket = EmulatorFixture.UniqueName("cli").ToLowerInvariant();
        await s3.PutBucketAsync(bucket);
        string dlq = await sqs.CreateQueueAsync(EmulatorFixture.UniqueName("cli-dlq"));
        string target = await sqs.CreateQueueAsync(EmulatorFixture.UniqueName("cli-target") + ".fifo", new Dictionary<string, string> { [SqsAttributeNames.FifoQueue] = "true" });
        byte[] large = new byte[300_000];
        Array.Fill(large, (byte)'x');
        await using (var sink = new SqsDeadLetterSink(sqs, new SqsDeadLetterSinkOptions { QueueUrl = dlq }, new S3ClaimCheck(s3, new S3ClaimCheckOptions { BucketName = bucket })))
        {
            await sink.WriteAsync(Letter("k", "2", "{\"n\":2}"u8.ToArray(), sourceKind: SourceKind.Sqs), default);
            await sink.WriteAsync(Letter("k", "1", "{\"n\":1}"u8.ToArray(), sourceKind: SourceKind.Sqs), default);
            await sink.WriteAsync(Letter("big", "3", large, sourceKind: SourceKind.Sqs), default);
        }

        string[] store = ["--sqs-queue-url", dlq, "--s3-bucket", bucket, "--endpoint-url", fauxqs.ServiceUrl.ToString()];
        (int exit, string output, string error) = await RunAsync(["dlq", "list", .. store, "--output", "json"]);
        Assert.True(exit == 0, error);
        using (JsonDocument json = JsonDocument.Parse(output))
        {
            Assert.Equal(3, json.RootElement.GetArrayLength());
            Assert.Contains(json.RootElement.EnumerateArray(), e => e.GetProperty("payloadBytes").GetInt32() == 300_000);
        }

        (exit, output, error) = await RunAsync(["dlq", "republish", .. store, "--key", "k", "--to-sqs", target, "--rate", "50"]);
        Assert.True(exit == 0, error);
        Assert.Contains("Republished: 2", output);

        var bodies = new List<string>();
        while (await sqs.ReceiveMessagesAsync(new SqsReceiveMessageRequest { QueueUrl = target, MaxNumberOfMessages = 10, WaitTimeSeconds = 1, MessageSystemAttributeNames = ["All"] }) is { Count: > 0 } batch)
        {
            foreach (SqsMessage message in batch)
            {
                Assert.Equal("k", message.MessageGroupId);
                bodies.Add(message.Body);
                await sqs.DeleteMessageAsync(target, message.ReceiptHandle);
            }
        }

        Assert.Equal(["{\"n\":1}", "{\"n\":2}"], bodies);
        (exit, output, _) = await RunAsync(["dlq", "list", .. store]);
        Assert.Equal(0, exit);
        Assert.Contains("1 dead letter(s)", output);
    }

    [Fact]
    public async Task Replay_from_a_DynamoDB_store_republishes_to_the_source_Kinesis_stream_and_a_failure_exits_1()
    {
        using KinesisClient kinesisClient = kinesis.CreateKinesisClient();
        string stream = EmulatorFixture.UniqueName("cli");
        await kinesisClient.CreateStreamAsync(stream, 1);
        await kinesisClient.WaitForStreamActiveAsync(stream);
        string table = EmulatorFixture.UniqueName("cli-dlq");
        using (var client = dynamoDb.CreateDynamoDbClient())
        using (var sink = new DynamoDbDeadLetterSink(client, new DynamoDbDeadLetterSinkOptions { TableName = table }))
        {
            await sink.WriteAsync(Letter("k", "20", "{\"n\":2}"u8.ToArray(), stream: stream), default);
            await sink.WriteAsync(Letter("k", "10", "{\"n\":1}"u8.ToArray(), stream: stream), default);
            await sink.WriteAsync(Letter("lost", "30", stream: "no-such-stream-" + Guid.NewGuid().ToString("N")[..8]), default);
        }

        string[] store = ["--dynamodb-table", table, "--dynamodb-endpoint-url", dynamoDb.ServiceUrl.ToString(), "--kinesis-endpoint-url", kinesis.ServiceUrl.ToString()];
        (int exit, string output, string error) = await RunAsync(["dlq", "replay", .. store, "--dry-run"]);
        Assert.True(exit == 0, error);
        Assert.Contains("DryRun: 3", output);

        (exit, output, _) = await RunAsync(["dlq", "replay", .. store, "--output", "json"]);
        Assert.Equal(1, exit);
        using (JsonDocument json = JsonDocument.Parse(output))
        {
            JsonElement counts = json.RootElement.GetProperty("counts");
            Assert.Equal(2, counts.GetProperty("Republished").GetInt32());
            Assert.Equal(1, counts.GetProperty("Failed").GetInt32());
        }

        IReadOnlyList<KinesisShard> shards = await kinesisClient.ListAllShardsAsync(stream);
        string iterator = await kinesisClient.GetShardIteratorAsync(stream, shards[0].ShardId, KinesisShardIteratorType.TrimHorizon);
        KinesisGetRecordsResponse records = await kinesisClient.GetRecordsAsync(iterator);
        Assert.Equal(["{\"n\":1}", "{\"n\":2}"], records.Records.Select(r => System.Text.Encoding.UTF8.GetString(r.Data.Span)));
        Assert.All(records.Records, r => Assert.Equal("k", r.PartitionKey));

        (exit, output, _) = await RunAsync(["dlq", "list", .. store, "--output", "json"]);
        Assert.Equal(0, exit);
        using (JsonDocument json = JsonDocument.Parse(output))
        {
            Assert.Equal(["lost"], json.RootElement.EnumerateArray().Select(e => e.GetProperty("partitionKey").GetString()));
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
