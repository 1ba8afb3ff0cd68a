using Amazon.DynamoDBv2;
using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.Sinks;
using StreamLanes.TestInfrastructure;
using Xunit.Abstractions;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Reliability;

/// <summary>
/// The key state across a SIGKILL and a lease move to another worker process: a key stuck in RetryUntilSuccess is
/// the only thing handled again, and a parked key stays parked.
/// </summary>
[Collection(KinesisCollection.Name)]
public sealed class KeyStateCrashTests(KinesisAndDynamoDbFixture emulators, ITestOutputHelper output) : IDisposable
{
    private const double Failover = 3;
    private readonly string _directory = Directory.CreateTempSubdirectory("streamlanes-keystate-").FullName;

    [Fact]
    public async Task After_a_kill_and_a_lease_move_only_the_stuck_keys_records_are_delivered_again()
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("stuck"), 1);
        string table = EmulatorFixture.UniqueName("leases");
        await stream.PutAsync(["stuck", .. Enumerable.Range(0, 300).Select(i => $"key-{i % 50}"), "stuck", "stuck"]);
        Dictionary<string, StreamRecord> records = stream.Put.ToDictionary(InvariantChecker.Id);
        StreamRecord[] stuck = [.. stream.Put.Where(r => r.PartitionKey == "stuck")];

        using WorkerProcess first = await WorkerProcess.StartAsync(emulators, stream.Name, table, "worker-1", _directory, "stuck", Failover, failureMode: KeyFailureMode.RetryUntilSuccess);
        await WaitUntilAsync(() => first.ReadCalls(records).Count(c => c.Succeeded) >= 300, TimeSpan.FromSeconds(60));

        // The checkpoint stays before the stuck record; its key state knows everything after it but the stuck key is done.
        await WaitUntilAsync(() => KeyState(table) is { HasIncompleteSet: true } state && state.FurthestRead == stream.Put[^1].Position, TimeSpan.FromSeconds(30), () => "no key state covering every record was saved");
        Assert.True(LeasePosition(table).IsNone);
        first.Kill();

        // Another worker takes the expired lease; the key is no longer failing there.
        using WorkerProcess second = await WorkerProcess.StartAsync(emulators, stream.Name, table, "worker-2", _directory, "", Failover, failureMode: KeyFailureMode.RetryUntilSuccess);
        await WaitUntilAsync(() => second.ReadCalls(records).Count(c => c.Succeeded) >= stuck.Length, TimeSpan.FromSeconds(60));
        await WaitUntilAsync(() => LeasePosition(table) == stream.Put[^1].Position, TimeSpan.FromSeconds(30), () => $"checkpoint at {LeasePosition(table)}");

        IReadOnlyList<HandlerCall> again = second.ReadCalls(records);
        Assert.Equal(stuck.Select(r => r.Position), again.Select(c => c.Record.Position));
        Assert.All(again, c => Assert.True(c.Succeeded));
        output.WriteLine($"records 303; handled by the first worker {first.ReadCalls(records).Count(c => c.Succeeded)}; delivered again after the kill {again.Count} (the stuck key's {stuck.Length})");
    }

    [Fact]
    public async Task After_a_kill_and_a_lease_move_a_parked_key_stays_parked_and_its_dead_letters_stay_in_order()
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("parked"), 1);
        string table = EmulatorFixture.UniqueName("leases");
        await stream.PutAsync(["poison", "a", "poison", "b"]);

        using WorkerProcess first = await WorkerProcess.StartAsync(emulators, stream.Name, table, "worker-1", _directory, "poison", Failover, failureMode: KeyFailureMode.ParkKey);
        await WaitUntilAsync(() => KeyState(table) is { } state && state.ParkedKeys.Any(k => k.Key == "poison") && LeasePosition(table) == stream.Put[^1].Position, TimeSpan.FromSeconds(60), () => "the parked key was never saved");
        first.Kill();

        await stream.PutAsync(["poison", "c", "poison"]);
        Dictionary<string, StreamRecord> records = stream.Put.ToDictionary(InvariantChecker.Id);

        // The second worker would handle the key successfully: only the saved state keeps it parked.
        using WorkerProcess second = await WorkerProcess.StartAsync(emulators, stream.Name, table, "worker-2", _directory, "", Failover, failureMode: KeyFailureMode.ParkKey);
        await WaitUntilAsync(() => LeasePosition(table) == stream.Put[^1].Position, TimeSpan.FromSeconds(60), () => $"checkpoint at {LeasePosition(table)}");

        Assert.Equal(["c"], second.ReadCalls(records).Select(c => c.Record.PartitionKey));
        IReadOnlyList<DeadLetterEnvelope> letters = [.. (await JsonLinesDeadLetterSink.ReadAllAsync(first.DeadLetterFile)).Concat(await JsonLinesDeadLetterSink.ReadAllAsync(second.DeadLetterFile))];
        StreamRecord[] poison = [.. stream.Put.Where(r => r.PartitionKey == "poison")];
        Assert.Equal(poison.Select(r => r.SequenceNumber), letters.Select(l => l.SequenceNumber));
        Assert.Equal([DeadLetterReason.RetriesExhausted, DeadLetterReason.ParkedBehind, DeadLetterReason.ParkedBehind, DeadLetterReason.ParkedBehind], letters.Select(l => l.Reason));
        Assert.All(letters.Skip(1), l => Assert.Equal(poison[0].SequenceNumber, l.ParkedBehindSequenceNumber));
        Assert.Contains(KeyState(table)!.ParkedKeys, k => k.Key == "poison" && k.DeadLetterId == letters[0].Id);
    }

    private ShardKeyState? KeyState(string table)
    {
        Lease lease = Lease(table);
        return lease.KeyState is { } bytes ? ShardKeyStateCodec.Decode(bytes) : null;
    }

    private SequenceNumber LeasePosition(string table) => Lease(table).Position;

    private Lease Lease(string table)
    {
        using AmazonDynamoDBClient client = emulators.DynamoDb.CreateDynamoDbClient();
        return new DynamoDbLeaseTable(client, table).ListAsync(default).GetAwaiter().GetResult().Single();
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
