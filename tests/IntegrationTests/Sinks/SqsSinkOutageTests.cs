using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using StreamLanes.Aws;
using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;
using StreamLanes.Sinks.Tests.Support;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.IntegrationTests.Sinks;

[Collection(EmulatorCollections.Sqs)]
public sealed class SqsSinkOutageTests(SqsEmulatorFixture emulator)
{
    [Fact]
    public async Task During_an_SQS_outage_the_poison_keys_wait_the_checkpoint_holds_and_afterwards_every_dead_letter_is_written_once()
    {
        var faults = new FaultInjectingHandler();
        AwsClientOptions aws = emulator.CreateClientOptions();
        aws.MaxTransportRetries = 0;
        using var sqs = new SqsClient(aws, new HttpClient(faults));
        string queue = await sqs.CreateQueueAsync(EmulatorFixture.UniqueName("dlq") + ".fifo", new Dictionary<string, string> { [SqsAttributeNames.FifoQueue] = "true" });

        var stream = new InMemoryStream("orders");
        var checkpoints = new InMemoryCheckpointStore();
        var handler = new RecordingHandler
        {
            Behaviour = static (record, _, _) => record.PartitionKey.StartsWith("poison", StringComparison.Ordinal)
                ? ValueTask.FromException(new InvalidOperationException("boom"))
                : ValueTask.CompletedTask,
        };
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(handler);
        builder.Services.AddStreamConsumer<RecordingHandler>("orders", options =>
            {
                options.MaxAttempts = 2;
                options.CheckpointInterval = TimeSpan.FromMilliseconds(50);
                options.Retry.InitialDelay = TimeSpan.FromMilliseconds(5);
                options.Retry.MaxDelay = TimeSpan.FromMilliseconds(20);
                options.SinkRetry.InitialDelay = TimeSpan.FromMilliseconds(20);
                options.SinkRetry.MaxDelay = TimeSpan.FromMilliseconds(100);
            })
            .FromInMemory(stream)
            .UseCheckpointStore(checkpoints)
            .UseDeadLetterSink(_ => new SqsDeadLetterSink(sqs, new SqsDeadLetterSinkOptions { QueueUrl = queue }));
        using IHost host = builder.Build();

        var put = new List<StreamRecord>();
        put.AddRange(Enumerable.Range(0, 20).Select(i => stream.Put($"key-{i}", "{}")));
        StreamRecord firstPoison = stream.Put("poison-a", "{\"p\":1}");
        put.Add(firstPoison);
        put.Add(stream.Put("poison-b", "{\"p\":2}"));
        put.Add(stream.Put("poison-a", "{\"p\":3}"));
        put.AddRange(Enumerable.Range(0, 100).Select(i => stream.Put($"key-{i % 10}", "{}")));

        // The first attempts reach SQS but their acknowledgements are lost, then SQS is unreachable.
        faults.Fault = Fault.LoseAcknowledgement;
        await host.StartAsync();
        IStreamConsumer consumer = host.Services.GetRequiredKeyedService<IStreamConsumer>("orders");
        await WaitAsync(() => consumer.GetStatus().Handled == 120 && consumer.GetStatus().ConsecutiveSinkFailures >= 2);
        faults.Fault = Fault.Down;
        await WaitAsync(() => consumer.GetStatus().ConsecutiveSinkFailures >= 6);

        // The checkpoint moves up to the record before the first unwritten dead letter, and no further.
        var key = new CheckpointKey("orders", "orders", stream.ShardIds[0]);
        StreamRecord lastBeforePoison = put[put.IndexOf(firstPoison) - 1];
        await WaitAsync(() => checkpoints.Checkpoints.TryGetValue(key, out SequenceNumber saved) && saved == lastBeforePoison.Position);
        SequenceNumber held = await checkpoints.GetAsync(key, default);
        Assert.True(held < firstPoison.Position, $"checkpoint {held} passed the unwritten dead letter {firstPoison.Position}");
        Assert.Equal(0L, consumer.GetStatus().DeadLettered);
        Assert.Equal(2, consumer.GetStatus().BlockedLanes);
        HealthCheckService health = host.Services.GetRequiredService<HealthCheckService>();
        Assert.Equal(HealthStatus.Unhealthy, (await health.CheckHealthAsync()).Entries["streamlanes-orders"].Status);

        faults.Fault = Fault.None;
        await WaitAsync(() => consumer.GetStatus().DeadLettered == 3 && consumer.GetStatus().Buffered == 0);
        await WaitAsync(() => checkpoints.Checkpoints.TryGetValue(key, out SequenceNumber saved) && saved == put.Max(r => r.Position));
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync()).Entries["streamlanes-orders"].Status);
        await host.StopAsync();

        // Each dead letter exactly once, in its key's order, although the first writes were stored without an answer.
        List<SqsMessage> messages = await DrainFifoAsync(sqs, queue);
        DeadLetterEnvelope[] letters = [.. messages.Select(m => DeadLetterEnvelopeSerializer.Deserialize(Encoding.UTF8.GetBytes(m.Body)))];
        Assert.Equal(3, letters.Length);
        Assert.Equal(3, letters.Select(l => l.Id).Distinct().Count());
        Assert.Equal(
            put.Where(r => r.PartitionKey == "poison-a").Select(r => r.SequenceNumber),
            letters.Where(l => l.PartitionKey == "poison-a").Select(l => l.SequenceNumber));
        Assert.Equal(firstPoison.Data.ToArray(), letters.First(l => l.SequenceNumber == firstPoison.SequenceNumber).Payload.ToArray());
        InvariantChecker.Report report = InvariantChecker.Check(put, handler, letters);
        Assert.Equal((put.Count, put.Count - 3, 3, 0), (report.Records, report.Handled, report.DeadLettered, report.Duplicates));
    }

    // A FIFO queue shows a group's next message only once the one before is deleted: read and delete.
    private static async Task<List<SqsMessage>> DrainFifoAsync(SqsClient sqs, string queue)
    {
        var all = new List<SqsMessage>();
        while (await sqs.ReceiveMessagesAsync(new SqsReceiveMessageRequest { QueueUrl = queue, MaxNumberOfMessages = 10, WaitTimeSeconds = 1 }) is { Count: > 0 } batch)
        {
            all.AddRange(batch);
            foreach (SqsMessage message in batch)
            {
                await sqs.DeleteMessageAsync(queue, message.ReceiptHandle);
            }
        }

        return all;
    }

    private static async Task WaitAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(10, timeout.Token);
        }
    }
}
