using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Microsoft.Extensions.DependencyInjection;
using StreamLanes.Aws;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.Sinks;
using StreamLanes.TestInfrastructure;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Sqs;

/// <summary>
/// With UseDynamoDbCheckpoints a parked message group stays parked across a restart on another machine (here: another,
/// empty data directory), since it lives in DynamoDB rather than on the first process's disk.
/// </summary>
[Collection(SqsAndDynamoDbCollection.Name)]
public sealed class SqsParkedGroupDynamoDbTests(SqsAndDynamoDbFixture emulators) : IDisposable
{
    private readonly SqsClient _client = emulators.Sqs.CreateSqsClient();
    private readonly AmazonDynamoDBClient _dynamoDb = emulators.DynamoDb.CreateDynamoDbClient();
    private readonly string _table = EmulatorFixture.UniqueName("sqs-parked");
    private readonly List<string> _directories = [];

    private SqsWorker Worker(string queue, bool failPoison)
    {
        // Each process gets an empty data directory: only DynamoDB can carry the parked group from one to the next.
        string dataDirectory = Directory.CreateTempSubdirectory("streamlanes-sqs-park-ddb-").FullName;
        _directories.Add(dataDirectory);
        SqsWorker worker = SqsWorker.Create(
            emulators.Sqs,
            queue,
            options =>
            {
                options.FailureMode = KeyFailureMode.ParkKey;
                options.MaxAttempts = 1;
                options.DataDirectory = dataDirectory;
                options.CheckpointInterval = TimeSpan.FromMilliseconds(100);
            },
            consumer: consumer =>
            {
                // The user's own client, taken from the service provider (no endpoint is given to the call).
                consumer.Services.AddSingleton<IAmazonDynamoDB>(emulators.DynamoDb.CreateDynamoDbClient());
                consumer.UseDynamoDbCheckpoints(_table);
            });
        worker.Handler.Behaviour = (record, _, _) => failPoison && record.PartitionKey == "poison" ? ValueTask.FromException(new InvalidOperationException("poison")) : ValueTask.CompletedTask;
        return worker;
    }

    private Task SendAsync(string queue, params (string Group, string Body)[] messages) => ParkedGroupQueue.SendAsync(_client, queue, messages);

    private async Task<bool> HasKeyStateAsync()
    {
        ScanResponse scan = await _dynamoDb.ScanAsync(new ScanRequest { TableName = _table, ConsistentRead = true });
        return scan.Items.Any(item => item.ContainsKey("keyState"));
    }

    [Fact]
    public async Task A_parked_message_group_stays_parked_after_a_restart_with_an_empty_data_directory()
    {
        string queue = await ParkedGroupQueue.CreateAsync(_client, "park-ddb");
        await SendAsync(queue, ("poison", "p1"), ("ok", "o1"));
        DeadLetterEnvelope first;
        await using (SqsWorker before = Worker(queue, failPoison: true))
        {
            await before.StartAsync();
            await WaitUntilAsync(() => before.DeadLetters.Envelopes.Count == 1 && before.Handler.Successes.Any(), TimeSpan.FromSeconds(30));
            first = before.DeadLetters.Envelopes.Single();
            Assert.Contains("poison", before.Consumer.ParkedKeys.Keys);
            await WaitUntilAsync(HasKeyStateAsync, TimeSpan.FromSeconds(10));
            await before.StopAsync();
        }

        // The restarted consumer's handler succeeds for every group: only the state in DynamoDB keeps "poison" parked.
        await SendAsync(queue, ("poison", "p2"), ("ok", "o2"));
        await using SqsWorker after = Worker(queue, failPoison: false);
        await after.StartAsync();
        await WaitUntilAsync(() => after.DeadLetters.Envelopes.Count == 1 && after.Handler.Successes.Any(), TimeSpan.FromSeconds(30), () => $"{after.DeadLetters.Envelopes.Count} dead letters, handled: {string.Join(",", after.Handler.Successes.Select(c => Encoding.UTF8.GetString(c.Record.Data.Span)))}");

        Assert.Equal(["o2"], after.Handler.Calls.Select(c => Encoding.UTF8.GetString(c.Record.Data.Span)));
        DeadLetterEnvelope parked = after.DeadLetters.Envelopes.Single();
        Assert.Equal(("poison", DeadLetterReason.ParkedBehind, first.SequenceNumber), (parked.PartitionKey, parked.Reason, parked.ParkedBehindSequenceNumber));
        Assert.Equal(first.Id, Assert.Single(after.Consumer.Inspect().ParkedKeys).DeadLetterId);

        // Released: removed from the table at once, so a further restart no longer parks it.
        Assert.True(after.Consumer.ReleaseKey("poison"));
        await WaitUntilAsync(async () => !await HasKeyStateAsync(), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Parked_groups_another_process_wrote_are_not_overwritten_and_the_queue_keeps_flowing()
    {
        string queue = await ParkedGroupQueue.CreateAsync(_client, "park-ddb2");
        await SendAsync(queue, ("poison", "p1"));
        await using SqsWorker worker = Worker(queue, failPoison: true);
        await worker.StartAsync();
        await WaitUntilAsync(HasKeyStateAsync, TimeSpan.FromSeconds(30));

        // Another process (same consumer name and queue) writes the item: this one's next save must not overwrite it.
        ScanResponse scan = await _dynamoDb.ScanAsync(new ScanRequest { TableName = _table, ConsistentRead = true });
        Dictionary<string, AttributeValue> item = Assert.Single(scan.Items);
        var other = new DynamoDbCheckpointStore(_dynamoDb, _table, createTableIfMissing: false, ownsClient: false, TimeProvider.System);
        string sk = item["sk"].S;
        int colon = sk.IndexOf(':', StringComparison.Ordinal);
        int streamLength = int.Parse(sk[..colon], System.Globalization.CultureInfo.InvariantCulture);
        var key = new Checkpointing.CheckpointKey("orders", sk.Substring(colon + 1, streamLength), sk[(colon + streamLength + 2)..]);
        byte[] othersState = (await ((Checkpointing.IKeyStateCheckpointStore)other).GetWithKeyStateAsync(key, default)).KeyState!;
        await ((Checkpointing.IKeyStateCheckpointStore)other).SaveAsync(key, Checkpointing.SequenceNumber.None, othersState, default);

        // A second group parks (a save is due) and a healthy group sent after it is still handled.
        await SendAsync(queue, ("poison-2", "q1"));
        worker.Handler.Behaviour = (record, _, _) => record.PartitionKey.StartsWith("poison", StringComparison.Ordinal) ? ValueTask.FromException(new InvalidOperationException("poison")) : ValueTask.CompletedTask;
        await WaitUntilAsync(() => worker.DeadLetters.Envelopes.Count == 2, TimeSpan.FromSeconds(30));

        // Several checkpoint rounds (each tries to save the new group and is refused) before the healthy group is sent.
        StreamConsumerRuntime runtime = worker.Host.Services.GetRequiredKeyedService<StreamConsumerRuntime>("orders");
        long rounds = runtime.CheckpointRounds;
        await WaitUntilAsync(() => runtime.CheckpointRounds >= rounds + 3, TimeSpan.FromSeconds(30));
        await SendAsync(queue, ("ok", "o1"));
        await WaitUntilAsync(() => worker.Handler.Successes.Any(), TimeSpan.FromSeconds(30), () => $"{worker.Handler.Calls.Count} calls");

        GetItemResponse stored = await _dynamoDb.GetItemAsync(new GetItemRequest { TableName = _table, Key = new() { ["pk"] = item["pk"], ["sk"] = item["sk"] }, ConsistentRead = true });
        Assert.Equal(othersState, stored.Item["keyState"].B.ToArray());
        Assert.Equal("2", stored.Item["revision"].N);
    }

    public void Dispose()
    {
        _client.Dispose();
        _dynamoDb.Dispose();
        foreach (string directory in _directories)
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
