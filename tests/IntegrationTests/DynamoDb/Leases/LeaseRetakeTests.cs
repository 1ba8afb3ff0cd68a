using Amazon.DynamoDBv2;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.IntegrationTests.Operations;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.TestInfrastructure;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Leases;

/// <summary>A worker that loses a shard's lease and gets it back reports the loss once, and reads the shard again.</summary>
[Collection(KinesisCollection.Name)]
public sealed class LeaseRetakeTests(KinesisAndDynamoDbFixture emulators)
{
    [Fact]
    public async Task A_shard_lost_and_taken_back_is_reported_abandoned_once_and_is_read_again()
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("retake"), 1);
        string table = EmulatorFixture.UniqueName("leases");
        var warnings = new WarningCollector();
        await using KinesisWorker worker = KinesisWorker.Create(emulators, stream.Name, table, "worker-a", build: consumer => consumer.Services.AddSingleton<ILoggerProvider>(warnings));
        await worker.StartAsync();
        using AmazonDynamoDBClient client = emulators.DynamoDb.CreateDynamoDbClient();
        var leases = new DynamoDbLeaseTable(client, table);
        await WaitUntilAsync(() => worker.Consumer.GetStatus().OpenShards == 1, TimeSpan.FromSeconds(30));

        // Another worker takes the lease: worker-a is fenced at its next renewal and abandons the shard.
        Lease held = Assert.Single(await leases.ListAsync(default));
        Lease taken = await leases.TakeAsync(held, "intruder", "run-1", default);
        await WaitUntilAsync(() => worker.Consumer.GetStatus().OpenShards == 0, TimeSpan.FromSeconds(30));

        // It gives the lease back: worker-a gets it again and reads on.
        await leases.ReleaseAsync(taken, default);
        await WaitUntilAsync(() => worker.Consumer.GetStatus().OpenShards == 1, TimeSpan.FromSeconds(30));
        await stream.PutAsync(Enumerable.Range(0, 10).Select(i => $"key-{i}"));
        await WaitUntilAsync(() => worker.Handler.Successes.Select(c => InvariantChecker.Id(c.Record)).Distinct().Count() == stream.Put.Count, TimeSpan.FromSeconds(30));

        string[] abandoned = [.. warnings.Warnings.Where(w => w.Contains("abandoned shard", StringComparison.Ordinal))];
        Assert.True(abandoned.Length == 1, $"{abandoned.Length} abandon warnings for one loss:{Environment.NewLine}{string.Join(Environment.NewLine, abandoned)}");
    }
}
