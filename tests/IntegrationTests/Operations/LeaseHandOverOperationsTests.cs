using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.TestInfrastructure;
using Xunit.Abstractions;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Operations;

/// <summary>
/// Two workers share a stream; one is stopped gracefully (a rolling deploy) and the other takes over. In both read modes:
/// a subscription handed over must start where the stopped worker's final checkpoint left off, as a polled shard does.
/// </summary>
[Collection(KinesisCollection.Name)]
public sealed class LeaseHandOverOperationsTests(KinesisAndDynamoDbFixture emulators, ITestOutputHelper output)
{
    [Theory]
    [InlineData(KinesisReadMode.Polling)]
    [InlineData(KinesisReadMode.EnhancedFanOut)]
    public async Task A_worker_stopped_gracefully_hands_its_shards_over_at_once_without_waiting_for_expiry(KinesisReadMode readMode)
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("handover"), 4);
        string table = EmulatorFixture.UniqueName("leases");
        var warnings = new WarningCollector();

        // A long failover (KCL's default): a hand-over that waited for expiry would take ten seconds or more.
        TimeSpan failover = TimeSpan.FromSeconds(10);
        KinesisWorker Create(string id) => KinesisWorker.Create(emulators, stream.Name, table, id, kinesis: options =>
        {
            options.Leases.FailoverTime = failover;
            options.Leases.ShardSyncInterval = TimeSpan.FromSeconds(60);
        }, build: consumer => consumer.Services.AddSingleton<ILoggerProvider>(warnings), readMode: readMode);
        await using KinesisWorker a = Create("worker-a");
        await using KinesisWorker b = Create("worker-b");
        await a.StartAsync();
        await b.StartAsync();
        using var producing = new CancellationTokenSource();
        Task producer = Task.Run(async () =>
        {
            while (!producing.IsCancellationRequested)
            {
                await stream.PutAsync(Enumerable.Range(0, 20).Select(i => $"key-{i}"));
                await Task.Delay(100);
            }
        });

        // b steals until the count is even (one lease per failover/3 round): wait for two each, in the table and in
        // both workers (a notices a steal at its next renewal, b starts a stolen shard one renew interval later).
        await LeaseOperationsSupport.WaitForLeasesAsync(
            emulators,
            table,
            leases => leases.Count(l => l.Owner == "worker-b") == 2 && leases.Count(l => l.Owner == "worker-a") == 2
                && a.Consumer.GetStatus().OpenShards == 2 && b.Consumer.GetStatus().OpenShards == 2,
            failover * 3);

        // Balancing (steals) logs warnings by design; from here on, the normal path must log none.
        warnings.Warnings.Clear();
        var released = (await LeaseOperationsSupport.ReadLeasesAsync(emulators, table)).Where(l => l.Owner == "worker-a").Select(l => l.LeaseKey).ToHashSet();
        long stopping = Stopwatch.GetTimestamp();
        await a.StopAsync();
        TimeSpan stopTook = Stopwatch.GetElapsedTime(stopping);
        long stopped = Stopwatch.GetTimestamp();
        IReadOnlyList<Lease> afterStop = await LeaseOperationsSupport.ReadLeasesAsync(emulators, table);
        Assert.DoesNotContain(afterStop, lease => lease.Owner == "worker-a");
        await LeaseOperationsSupport.WaitForLeasesAsync(emulators, table, leases => leases.All(l => l.Owner == "worker-b"), failover * 2);
        TimeSpan handOver = Stopwatch.GetElapsedTime(stopped);

        // Every record put after the stop is handled by b, promptly.
        int putBeforeStop = stream.Put.Count;
        await WaitUntilAsync(() => stream.Put.Count >= putBeforeStop + 100, TimeSpan.FromSeconds(30));
        await producing.CancelAsync();
        await producer;
        await WaitUntilAsync(() => a.Handler.Successes.Concat(b.Handler.Successes).Select(c => InvariantChecker.Id(c.Record)).Distinct().Count() == stream.Put.Count, TimeSpan.FromSeconds(30),
            () => $"{a.Handler.Successes.Concat(b.Handler.Successes).Select(c => InvariantChecker.Id(c.Record)).Distinct().Count()} of {stream.Put.Count} handled");
        InvariantChecker.Report report = InvariantChecker.Check(stream.Put, [a.Handler, b.Handler], []);
        IReadOnlyList<string> overlaps = InvariantChecker.CrossRunOverlaps(a.Handler.Calls.Concat(b.Handler.Calls));
        output.WriteLine($"{readMode}: graceful stop took {stopTook.TotalSeconds:F1} s; b held every shard {handOver.TotalSeconds:F2} s later; records {report.Records}, duplicates {report.Duplicates}, lost 0");
        Assert.True(overlaps.Count == 0, string.Join(Environment.NewLine, overlaps.Take(10)));

        // The stop drained and checkpointed: on the shards it released, b starts after the last record a finished. (Records
        // of shards b stole earlier may be handled twice: a steal restarts from the last checkpoint.)
        var doneByA = a.Handler.Successes.Select(c => InvariantChecker.Id(c.Record)).ToHashSet();
        var again = b.Handler.Calls.Where(c => released.Contains(c.Record.ShardId) && doneByA.Contains(InvariantChecker.Id(c.Record))).ToList();
        Assert.True(again.Count == 0, $"{again.Count} records a finished before its graceful stop were handled again by b, e.g. {string.Join(", ", again.Take(5).Select(c => InvariantChecker.Id(c.Record)))}");
        Assert.True(handOver < (failover / 3) + TimeSpan.FromSeconds(2), $"hand-over took {handOver}: released leases must be taken without waiting for expiry");
        Assert.True(warnings.Warnings.IsEmpty, string.Join(Environment.NewLine, warnings.Warnings));
    }
}
