using System.Diagnostics;
using Amazon.DynamoDBv2;
using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.Sinks;
using StreamLanes.TestInfrastructure;
using Xunit.Abstractions;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Kinesis;

[Collection(KinesisCollection.Name)]
public sealed class KinesisConsumerTests(KinesisAndDynamoDbFixture emulators, ITestOutputHelper output)
{
    private static IEnumerable<string> Keys(int count, int keys, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => $"key-{random.Next(keys)}");
    }

    private async Task<KinesisTestStream> NewStreamAsync(int shards)
        => await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("orders"), shards);

    private static HashSet<string> Done(IEnumerable<KinesisWorker> workers)
        => workers.SelectMany(w => w.Handler.Successes.Select(c => InvariantChecker.Id(c.Record))
            .Concat(w.DeadLetters.Envelopes.Select(l => $"{l.Shard}/{l.SequenceNumber}/{l.SubSequenceNumber}"))).ToHashSet();

    private async Task<IReadOnlyList<Lease>> LeasesAsync(string table)
    {
        using AmazonDynamoDBClient client = emulators.DynamoDb.CreateDynamoDbClient();
        return await new DynamoDbLeaseTable(client, table).ListAsync(default);
    }

    [Fact]
    public async Task Every_record_of_a_four_shard_stream_is_handled_in_key_order_and_every_shard_checkpointed_at_its_last_record()
    {
        KinesisTestStream stream = await NewStreamAsync(4);
        await stream.PutAsync(Keys(2000, 300, seed: 1));
        string table = EmulatorFixture.UniqueName("leases");
        await using KinesisWorker worker = KinesisWorker.Create(emulators, stream.Name, table, "worker-1");
        worker.Handler.Behaviour = static async (record, _, token) =>
        {
            if (record.Data.Span[^2] == (byte)'3')
            {
                await Task.Delay(1, token);
            }
        };
        await worker.StartAsync();
        await WaitUntilAsync(() => Done([worker]).Count == 2000, TimeSpan.FromSeconds(60), () => $"{worker.Consumer.GetStatus()}");
        await worker.StopAsync();

        InvariantChecker.Report report = InvariantChecker.Check(stream.Put, worker.Handler, worker.DeadLetters.Envelopes);
        Assert.Equal(0, report.Duplicates);
        IReadOnlyList<Lease> leases = await LeasesAsync(table);
        Assert.Equal(4, leases.Count);
        foreach (Lease lease in leases)
        {
            SequenceNumber last = stream.Put.Where(r => r.ShardId == lease.LeaseKey).Max(r => r.Position);
            Assert.Equal(last, lease.Position);
            Assert.Null(lease.Owner); // released on graceful stop
        }
    }

    [Fact]
    public async Task Three_workers_share_a_stream_and_a_crashed_workers_shards_are_taken_over_without_loss()
    {
        KinesisTestStream stream = await NewStreamAsync(6);
        string table = EmulatorFixture.UniqueName("leases");
        var workers = Enumerable.Range(1, 3).Select(i => KinesisWorker.Create(emulators, stream.Name, table, $"worker-{i}")).ToList();
        try
        {
            foreach (KinesisWorker worker in workers)
            {
                worker.Handler.Behaviour = static async (_, _, token) => await Task.Delay(2, token);
                await worker.StartAsync();
            }

            // Leases spread evenly: 2-2-2.
            IReadOnlyList<Lease> leases = [];
            await WaitUntilAsync(() =>
            {
                leases = LeasesAsync(table).GetAwaiter().GetResult();
                return leases.Count == 6 && leases.GroupBy(l => l.Owner).All(g => g.Key is not null && g.Count() == 2);
            }, TimeSpan.FromSeconds(30), () => string.Join(", ", leases.Select(l => $"{l.LeaseKey}={l.Owner}")));

            Task producer = stream.PutAsync(Keys(3000, 300, seed: 2));
            await WaitUntilAsync(() => Done(workers).Count >= 500, TimeSpan.FromSeconds(60));

            // worker-2 dies abruptly: no drain, no final checkpoint, no lease release.
            string[] orphaned = [.. (await LeasesAsync(table)).Where(l => l.Owner == "worker-2").Select(l => l.LeaseKey)];
            workers[1].Crash();
            var stopwatch = Stopwatch.StartNew();
            await WaitUntilAsync(() => (LeasesAsync(table).GetAwaiter().GetResult()).Where(l => orphaned.Contains(l.LeaseKey)).All(l => l.Owner is "worker-1" or "worker-3"), TimeSpan.FromSeconds(30));
            TimeSpan takeover = stopwatch.Elapsed;
            output.WriteLine($"takeover of {orphaned.Length} shards after {takeover.TotalMilliseconds:N0} ms (failover 3 s, renew interval 1 s)");
            // Expected: failover + one renew interval (~4 s). The bound leaves room for a loaded CI machine while still
            // failing a takeover that waits for anything but the lease's expiry.
            Assert.True(takeover < TimeSpan.FromSeconds(3 * 3), $"takeover took {takeover}");

            await producer;
            await WaitUntilAsync(() => Done(workers).Count == 3000, TimeSpan.FromSeconds(90), () => $"{Done(workers).Count} of 3000");
            InvariantChecker.Report report = InvariantChecker.Check(stream.Put, [.. workers.Select(w => w.Handler)], workers.SelectMany(w => w.DeadLetters.Envelopes));
            output.WriteLine($"records {report.Records}, handled {report.Handled}, dead-lettered {report.DeadLettered}, duplicates {report.Duplicates} (re-processed after the crash, from the last checkpoint)");
            AssertNoCrossWorkerOverlap(workers);
        }
        finally
        {
            foreach (KinesisWorker worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_graceful_stop_hands_shards_over_with_no_record_processed_twice()
    {
        KinesisTestStream stream = await NewStreamAsync(4);
        string table = EmulatorFixture.UniqueName("leases");
        await using KinesisWorker first = KinesisWorker.Create(emulators, stream.Name, table, "worker-1");
        await using KinesisWorker second = KinesisWorker.Create(emulators, stream.Name, table, "worker-2");
        first.Handler.Behaviour = second.Handler.Behaviour = static async (_, _, token) => await Task.Delay(1, token);
        await first.StartAsync();
        await second.StartAsync();

        // Balancing steals a lease from a live worker, which re-processes what it handled since its last
        // checkpoint; wait for the 2-2 split so that only the graceful stop hands shards over.
        await WaitUntilAsync(() => LeasesAsync(table).GetAwaiter().GetResult().GroupBy(l => l.Owner).Count(g => g.Key is not null && g.Count() == 2) == 2, TimeSpan.FromSeconds(30));
        await WaitUntilAsync(() => first.Consumer.GetStatus().OpenShards == 2 && second.Consumer.GetStatus().OpenShards == 2, TimeSpan.FromSeconds(30));
        Task producer = stream.PutAsync(Keys(2000, 200, seed: 3));
        await WaitUntilAsync(() => Done([first, second]).Count >= 600, TimeSpan.FromSeconds(60));
        await first.StopAsync();
        await producer;
        await WaitUntilAsync(() => Done([first, second]).Count == 2000, TimeSpan.FromSeconds(60));
        InvariantChecker.Report report = InvariantChecker.Check(stream.Put, [first.Handler, second.Handler], []);
        Assert.Equal(0, report.Duplicates);
        Assert.True(first.Handler.Successes.Any() && second.Handler.Successes.Any());
        Assert.All(await LeasesAsync(table), lease => Assert.Equal("worker-2", lease.Owner));
        AssertNoCrossWorkerOverlap([first, second]);
    }

    [Fact]
    public async Task A_poison_key_is_dead_lettered_with_its_payload_while_its_shard_keeps_flowing_and_the_checkpoint_moves_past_it()
    {
        KinesisTestStream stream = await NewStreamAsync(1);
        string table = EmulatorFixture.UniqueName("leases");
        await stream.PutAsync(["poison", .. Keys(300, 50, seed: 4)]);
        await using KinesisWorker worker = KinesisWorker.Create(emulators, stream.Name, table, "worker-1", options =>
        {
            options.MaxAttempts = 4;
            options.Retry.InitialDelay = TimeSpan.FromMilliseconds(300);
            options.RetryBackoff = RetryBackoff.Constant;
            options.Retry.MaxDelay = TimeSpan.FromMilliseconds(300);
        });
        worker.Handler.Behaviour = static (record, _, _) => record.PartitionKey == "poison" ? ValueTask.FromException(new InvalidOperationException("poison")) : ValueTask.CompletedTask;
        await worker.StartAsync();
        await WaitUntilAsync(() => Done([worker]).Count == 301, TimeSpan.FromSeconds(60));

        HandlerCall lastPoisonAttempt = worker.Handler.Calls.Where(c => c.Record.PartitionKey == "poison").MaxBy(c => c.StartedTicks)!;
        Assert.All(worker.Handler.Successes, call => Assert.True(call.EndedTicks < lastPoisonAttempt.StartedTicks));
        DeadLetterEnvelope letter = Assert.Single(worker.DeadLetters.Envelopes);
        Assert.Equal(stream.Put[0].Data.ToArray(), letter.Payload.ToArray());
        Assert.Equal(SourceKind.Kinesis, letter.SourceKind);
        Assert.Equal(4, letter.Attempts.Count);

        SequenceNumber last = stream.Put.Max(r => r.Position);
        await WaitUntilAsync(() => LeasesAsync(table).GetAwaiter().GetResult().Single().Position == last, TimeSpan.FromSeconds(10));
    }

    private static void AssertNoCrossWorkerOverlap(IReadOnlyList<KinesisWorker> workers)
    {
        // Two owners must never run one shard key's records at the same time.
        var calls = workers.SelectMany((w, i) => w.Handler.Calls.Select(c => (Worker: i, Call: c)))
            .GroupBy(x => x.Call.Record.ShardId + "|" + x.Call.Record.PartitionKey);
        foreach (var key in calls)
        {
            var ordered = key.OrderBy(x => x.Call.StartedTicks).ToList();
            for (int i = 1; i < ordered.Count; i++)
            {
                if (ordered[i].Worker != ordered[i - 1].Worker)
                {
                    Assert.True(ordered[i].Call.StartedTicks >= ordered[i - 1].Call.EndedTicks, $"key {key.Key}: workers {ordered[i - 1].Worker} and {ordered[i].Worker} overlapped");
                }
            }
        }
    }
}
