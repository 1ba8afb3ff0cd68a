using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using System.Diagnostics;
using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.IntegrationTests.Operations;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.TestInfrastructure;
using Xunit.Abstractions;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Kinesis;

/// <summary>
/// The enhanced fan-out read mode on kinesis-mock (SubscribeToShard over h2c) and DynamoDB Local: the invariants of
/// polling (nothing lost, per-key order, fencing across lease moves) plus renewals, resharding and backpressure.
/// </summary>
[Collection(KinesisCollection.Name)]
public sealed class KinesisFanOutConsumerTests(KinesisAndDynamoDbFixture emulators, ITestOutputHelper output)
{
    private const string MiddleHashKey = "170141183460469231731687303715884105728";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(45);
    private readonly WarningCollector _warnings = new();

    private KinesisWorker CreateWorker(
        KinesisTestStream stream,
        string table,
        string id = "worker-1",
        RecordingHandler? handler = null,
        Action<StreamConsumerOptions>? configure = null,
        string fanOutName = "efo-app")
        => KinesisWorker.Create(emulators, stream.Name, table, id, configure: configure, handler: handler, build: consumer => consumer.Services.AddSingleton<ILoggerProvider>(_warnings), kinesis: options =>
        {
            options.ReadMode = KinesisReadMode.EnhancedFanOut;
            options.FanOut.ConsumerName = fanOutName;
            options.FanOut.SubscriptionRenewal = TimeSpan.FromSeconds(2);
            options.FanOut.ShardEndProbeInterval = TimeSpan.FromMilliseconds(500);
            options.Leases.ShardSyncInterval = TimeSpan.FromSeconds(60);
        });

    [Fact]
    public async Task Records_arrive_exactly_once_in_order_per_key_across_many_subscription_renewals()
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("efo-renew"), 2);
        await using KinesisWorker worker = CreateWorker(stream, EmulatorFixture.UniqueName("leases"));
        await worker.StartAsync();

        // Seven seconds of puts against a two-second renewal: every shard's subscription is renewed at least three
        // times while records keep coming.
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(7))
        {
            await stream.PutAsync(Enumerable.Range(0, 10).Select(i => $"key-{i}"));
            await Task.Delay(200);
        }

        await WaitUntilAsync(() => worker.Handler.Successes.Count() >= stream.Put.Count, Patience,
            () => $"{worker.Handler.Successes.Count()} of {stream.Put.Count} handled; warnings: {string.Join(Environment.NewLine, _warnings.Warnings.Take(20))}");
        InvariantChecker.Report report = InvariantChecker.Check(stream.Put, worker.Handler, []);

        output.WriteLine($"records {report.Records}, handled {report.Handled}, duplicates {report.Duplicates}");
        Assert.Equal(0, report.Duplicates); // renewals resume after the continuation: no repeat
        Assert.Equal(0, worker.Handler.Overlaps);
        Assert.Equal(stream.Put.Count, worker.Handler.Successes.Count());
    }

    [Fact]
    public async Task A_live_split_reads_the_children_after_the_parent_with_per_key_order_kept()
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("efo-split"), 1);
        string table = EmulatorFixture.UniqueName("leases");
        await using KinesisWorker worker = CreateWorker(stream, table);
        await worker.StartAsync();
        string parent = (await stream.Client.ListAllShardsAsync(stream.Name)).Single().ShardId;
        Task<long> parentEnded = LeaseOperationsSupport.WaitForShardEndAsync(emulators, table, parent, TimeSpan.FromSeconds(60));

        for (int batch = 0; batch < 5; batch++)
        {
            await stream.PutAsync(Enumerable.Range(0, 20).Select(i => $"key-{i}"));
        }

        await stream.Client.SplitShardAsync(stream.Name, parent, MiddleHashKey);
        await stream.Client.WaitForStreamActiveAsync(stream.Name);
        for (int batch = 0; batch < 5; batch++)
        {
            await stream.PutAsync(Enumerable.Range(0, 20).Select(i => $"key-{i}"));
        }

        long ended = await parentEnded.WaitAsync(TimeSpan.FromSeconds(60)).ContinueWith(t => t.IsCompletedSuccessfully ? t.Result
            : throw new TimeoutException($"parent not ended; handled {worker.Handler.Successes.Count()} of {stream.Put.Count}; warnings: {string.Join(Environment.NewLine, _warnings.Warnings.Take(20))}", t.Exception));
        await WaitUntilAsync(() => worker.Handler.Successes.Select(c => InvariantChecker.Id(c.Record)).Distinct().Count() == stream.Put.Count, Patience,
            () => $"{worker.Handler.Successes.Select(c => InvariantChecker.Id(c.Record)).Distinct().Count()} of {stream.Put.Count} handled");

        InvariantChecker.Check(stream.Put, worker.Handler, []);
        Dictionary<string, int> generation = stream.Put.Select(r => r.ShardId).Distinct().ToDictionary(shard => shard, shard => shard == parent ? 0 : 1);
        LeaseOperationsSupport.AssertKeyOrderAcrossShards(worker.Handler.Calls, generation);
        TimeSpan childWait = Stopwatch.GetElapsedTime(ended, worker.Handler.Calls.Where(c => c.Record.ShardId != parent).Min(c => c.StartedTicks));
        output.WriteLine($"children first handled {childWait.TotalSeconds:F2} s after the parent's SHARD_END");
        Assert.True(childWait < TimeSpan.FromSeconds(5), $"the children started {childWait} after their parent's SHARD_END");
        Lease parentLease = (await LeaseOperationsSupport.ReadLeasesAsync(emulators, table)).Single(l => l.LeaseKey == parent);
        Assert.True(parentLease.IsShardEnd);
        Assert.Null(parentLease.Owner);
    }

    [Fact]
    public async Task Leases_moving_between_two_workers_on_a_stop_and_a_crash_lose_nothing_and_keep_per_key_order()
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("efo-move"), 2);
        string table = EmulatorFixture.UniqueName("leases");
        var first = new RecordingHandler();
        var second = new RecordingHandler();
        var third = new RecordingHandler();
        KinesisWorker a = CreateWorker(stream, table, "worker-a", first);
        await using KinesisWorker b = CreateWorker(stream, table, "worker-b", second);
        var phases = Stopwatch.StartNew();
        await a.StartAsync();
        output.WriteLine($"a started at {phases.Elapsed.TotalSeconds:F1} s");
        await stream.PutAsync(Enumerable.Range(0, 100).Select(i => $"key-{i % 10}"));
        output.WriteLine($"100 put at {phases.Elapsed.TotalSeconds:F1} s");
        await WaitUntilAsync(() => first.Successes.Count() >= 100, Patience, () => $"{first.Successes.Count()} of 100 handled by the first worker");
        output.WriteLine($"first 100 handled at {phases.Elapsed.TotalSeconds:F1} s");

        // b starts and balances one shard away from a; then a stops gracefully and b takes everything.
        await b.StartAsync();
        await stream.PutAsync(Enumerable.Range(100, 100).Select(i => $"key-{i % 10}"));
        await a.StopAsync();
        await a.DisposeAsync();
        await stream.PutAsync(Enumerable.Range(200, 100).Select(i => $"key-{i % 10}"));
        output.WriteLine($"a stopped at {phases.Elapsed.TotalSeconds:F1} s");
        await WaitUntilAsync(() => Handled(first, second) >= 300, Patience, () => $"{Handled(first, second)} of 300 handled after the graceful stop");
        output.WriteLine($"300 handled at {phases.Elapsed.TotalSeconds:F1} s");

        // b crashes (no release: its leases must expire) and c takes over; its subscriptions replace b's.
        b.Crash();
        await using KinesisWorker c = CreateWorker(stream, table, "worker-c", third);
        await c.StartAsync();
        await stream.PutAsync(Enumerable.Range(300, 100).Select(i => $"key-{i % 10}"));
        output.WriteLine($"c started at {phases.Elapsed.TotalSeconds:F1} s");
        await WaitUntilAsync(() => Handled(first, second, third) >= 400, Patience, () => $"{Handled(first, second, third)} of 400 handled after the crash");
        output.WriteLine($"400 handled at {phases.Elapsed.TotalSeconds:F1} s");

        InvariantChecker.Report report = InvariantChecker.Check(stream.Put, [first, second, third], []);
        output.WriteLine($"records {report.Records}, duplicates {report.Duplicates} (at least once across the crash)");
    }

    [Fact]
    public async Task A_full_shard_buffer_pauses_the_subscription_and_nothing_is_lost()
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("efo-bp"), 1);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new RecordingHandler { Behaviour = async (_, _, token) => await gate.Task.WaitAsync(token) };
        await using KinesisWorker worker = CreateWorker(stream, EmulatorFixture.UniqueName("leases"), handler: handler, configure: options =>
        {
            options.MaxBufferedRecordsPerShard = 20;
            options.MaxBufferedRecords = 20;
        });
        await worker.StartAsync();
        await stream.PutAsync(Enumerable.Range(0, 300).Select(i => $"key-{i % 50}"));

        // The 50 keys' first records start; the buffer fills to its bound and stays there while nothing completes.
        await WaitUntilAsync(() => worker.Consumer.GetStatus().Buffered >= 20, Patience, () => $"{worker.Consumer.GetStatus().Buffered} buffered");
        int peak = 0;
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(2))
        {
            peak = Math.Max(peak, worker.Consumer.GetStatus().Buffered);
            await Task.Delay(50);
        }

        Assert.True(peak <= 20, $"{peak} records buffered against a bound of 20");
        gate.SetResult();
        await WaitUntilAsync(() => handler.Successes.Count() >= 300, Patience, () => $"{handler.Successes.Count()} of 300 handled after the buffer drained");
        InvariantChecker.Report report = InvariantChecker.Check(stream.Put, handler, []);
        Assert.Equal(0, report.Duplicates);
    }

    private static int Handled(params RecordingHandler[] handlers)
        => handlers.SelectMany(h => h.Successes).Select(c => InvariantChecker.Id(c.Record)).Distinct().Count();
}
