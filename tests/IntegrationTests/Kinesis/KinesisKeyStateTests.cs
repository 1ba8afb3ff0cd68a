using System.Numerics;
using Amazon.DynamoDBv2;
using StreamLanes.Checkpointing;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.Sinks;
using StreamLanes.TestInfrastructure;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Kinesis;

/// <summary>
/// A parked key across resharding on kinesis-mock: after a split the child whose hash range holds the key has it
/// parked (even on a worker that never saw it parked), after a merge the child takes the union.
/// </summary>
[Collection(KinesisCollection.Name)]
public sealed class KinesisKeyStateTests(KinesisAndDynamoDbFixture emulators)
{
    private const string Poison = "poison";

    private static KinesisWorker ParkingWorker(KinesisAndDynamoDbFixture emulators, string stream, string table, string id)
    {
        KinesisWorker worker = KinesisWorker.Create(emulators, stream, table, id, options => options.MaxAttempts = 1, build: b => b.WithFailureMode(KeyFailureMode.ParkKey));
        worker.Handler.Behaviour = static (record, _, _) => record.PartitionKey == Poison ? ValueTask.FromException(new InvalidOperationException("poison")) : ValueTask.CompletedTask;
        return worker;
    }

    private async Task<IReadOnlyList<Lease>> LeasesAsync(string table)
    {
        using AmazonDynamoDBClient client = emulators.DynamoDb.CreateDynamoDbClient();
        return await new DynamoDbLeaseTable(client, table).ListAsync(default);
    }

    private static async Task PollAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> describe)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (!await condition())
        {
            try
            {
                await Task.Delay(100, cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Condition not reached within {timeout}. {describe()}");
            }
        }
    }

    private static IReadOnlyList<string> ParkedIn(Lease lease)
        => lease.KeyState is { } bytes ? [.. ShardKeyStateCodec.Decode(bytes).ParkedKeys.Select(k => k.Key)] : [];

    [Fact]
    public async Task Split_and_merge_keep_a_parked_key_parked_in_the_child_that_can_hold_it()
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("park"), 1);
        string table = EmulatorFixture.UniqueName("leases");
        string parent = (await stream.Client.ListAllShardsAsync(stream.Name)).Single().ShardId;
        string[] others = [.. Enumerable.Range(0, 30).Select(i => $"key-{i}")];

        // Worker 1 parks the key; its checkpoint carries it.
        await using (KinesisWorker first = ParkingWorker(emulators, stream.Name, table, "worker-1"))
        {
            await first.StartAsync();
            await stream.PutAsync([Poison, .. others]);
            await PollAsync(async () => ParkedIn((await LeasesAsync(table)).Single()).Contains(Poison), TimeSpan.FromSeconds(30), () => "the parent's key state never carried the parked key");
            await WaitUntilAsync(() => first.Handler.Successes.Count() >= others.Length, TimeSpan.FromSeconds(30));
            await first.StopAsync();
        }

        // Split while nobody runs; worker 2 never saw the key parked.
        await stream.Client.SplitShardAsync(stream.Name, parent, BigInteger.Pow(2, 127).ToString());
        await stream.Client.WaitForStreamActiveAsync(stream.Name);
        await using KinesisWorker second = ParkingWorker(emulators, stream.Name, table, "worker-2");
        await second.StartAsync();
        int before = stream.Put.Count;
        await stream.PutAsync([Poison, .. others, Poison]);
        StreamRecord[] afterSplit = [.. stream.Put.Skip(before)];
        await WaitUntilAsync(() => second.Handler.Successes.Count() >= others.Length && second.DeadLetters.Envelopes.Count >= 2, TimeSpan.FromSeconds(60),
            () => $"{second.Handler.Successes.Count()} handled, {second.DeadLetters.Envelopes.Count} dead-lettered");

        // The key's records after the split were parked, never handled, in order behind the original dead letter.
        Assert.DoesNotContain(second.Handler.Calls, c => c.Record.PartitionKey == Poison);
        DeadLetterEnvelope[] parked = [.. second.DeadLetters.Envelopes.Where(e => e.PartitionKey == Poison)];
        Assert.Equal(afterSplit.Where(r => r.PartitionKey == Poison).Select(r => r.SequenceNumber), parked.Select(e => e.SequenceNumber));
        Assert.All(parked, e => Assert.Equal(DeadLetterReason.ParkedBehind, e.Reason));
        string poisonChild = afterSplit.First(r => r.PartitionKey == Poison).ShardId;

        // Only the child that can hold the key carries it.
        await PollAsync(async () => ParkedIn((await LeasesAsync(table)).Single(l => l.LeaseKey == poisonChild)).Contains(Poison), TimeSpan.FromSeconds(30), () => "the child never saved the parked key");
        IReadOnlyList<Lease> leases = await LeasesAsync(table);
        Lease otherChild = leases.Single(l => l.LeaseKey != parent && l.LeaseKey != poisonChild);
        Assert.DoesNotContain(Poison, ParkedIn(otherChild));
        ParkedKeyDetails details = Assert.Single(second.Consumer.Inspect().ParkedKeys);
        Assert.Equal(poisonChild, details.ShardId);

        // Merge the children: the merged shard takes the union, so the key stays parked there too.
        string[] children = [.. leases.Where(l => l.LeaseKey != parent).Select(l => l.LeaseKey).Order()];
        await stream.Client.MergeShardsAsync(stream.Name, children[0], children[1]);
        await stream.Client.WaitForStreamActiveAsync(stream.Name);
        before = stream.Put.Count;
        await stream.PutAsync([Poison, "key-1"]);
        string merged = stream.Put.Skip(before).First().ShardId;
        Assert.DoesNotContain(merged, children);
        await WaitUntilAsync(() => second.DeadLetters.Envelopes.Any(e => e.Shard == merged), TimeSpan.FromSeconds(60), () => "the merged shard's poison record was not parked");
        Assert.Equal(DeadLetterReason.ParkedBehind, second.DeadLetters.Envelopes.Single(e => e.Shard == merged).Reason);
        Assert.DoesNotContain(second.Handler.Calls, c => c.Record.PartitionKey == Poison);
        await PollAsync(async () => ParkedIn((await LeasesAsync(table)).Single(l => l.LeaseKey == merged)).Contains(Poison), TimeSpan.FromSeconds(30), () => "the merged shard never saved the parked key");
    }

    [Fact]
    public async Task A_graceful_restart_with_a_stuck_key_hands_on_only_its_records()
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("stuck"), 1);
        string table = EmulatorFixture.UniqueName("leases");
        await stream.PutAsync(["stuck", .. Enumerable.Range(0, 200).Select(i => $"key-{i % 40}"), "stuck"]);
        StreamRecord[] stuck = [.. stream.Put.Where(r => r.PartitionKey == "stuck")];

        await using (KinesisWorker first = KinesisWorker.Create(emulators, stream.Name, table, "worker-1", options => options.DrainTimeout = TimeSpan.FromMilliseconds(200), build: b => b.WithFailureMode(KeyFailureMode.RetryUntilSuccess)))
        {
            first.Handler.Behaviour = static (record, _, _) => record.PartitionKey == "stuck" ? ValueTask.FromException(new InvalidOperationException("down")) : ValueTask.CompletedTask;
            await first.StartAsync();
            await WaitUntilAsync(() => first.Handler.Successes.Count() >= 200, TimeSpan.FromSeconds(60));

            // Graceful: drain (the stuck key cannot), final checkpoint with its key state, release.
            await first.StopAsync();
        }

        Lease saved = (await LeasesAsync(table)).Single();
        Assert.Null(saved.Owner);
        Assert.True(saved.Position.IsNone);
        Assert.NotNull(saved.KeyState);

        await using KinesisWorker second = KinesisWorker.Create(emulators, stream.Name, table, "worker-2", build: b => b.WithFailureMode(KeyFailureMode.RetryUntilSuccess));
        await second.StartAsync();
        await PollAsync(async () => (await LeasesAsync(table)).Single().Position == stream.Put[^1].Position, TimeSpan.FromSeconds(60), () => $"{second.Handler.Calls.Count} calls");
        Assert.Equal(stuck.Select(r => r.Position), second.Handler.Calls.Select(c => c.Record.Position));
    }
}
