using System.Diagnostics;
using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.Sinks;
using StreamLanes.TestInfrastructure;
using Xunit.Abstractions;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Operations;

/// <summary>
/// What operators do to Kinesis workers, each worker in its own process (tests/Reliability.Worker): kill one and
/// start it again with the same worker id (a pod or host name), or with a new one; start a second process under an
/// id that is still running. Each checks nothing is lost, per-key order, no key on two processes at once, and how
/// long the shards stood still. Each runs in both read modes (polling and enhanced fan-out).
/// </summary>
[Collection(KinesisCollection.Name)]
public sealed class LeaseRestartOperationsTests(KinesisAndDynamoDbFixture emulators, ITestOutputHelper output) : IDisposable
{
    private const double Failover = 3;
    private static readonly TimeSpan RenewInterval = TimeSpan.FromSeconds(Failover / 3);
    private readonly string _directory = Directory.CreateTempSubdirectory("streamlanes-restart-").FullName;

    [Theory]
    [InlineData("pod-0", "same id", KinesisReadMode.Polling)]
    [InlineData("pod-1", "new id", KinesisReadMode.Polling)]
    [InlineData("pod-0", "same id", KinesisReadMode.EnhancedFanOut)]
    [InlineData("pod-1", "new id", KinesisReadMode.EnhancedFanOut)]
    public async Task A_killed_worker_restarted_resumes_its_shards_within_failover_plus_a_renew_interval(string restartedId, string how, KinesisReadMode readMode)
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("restart"), 2);
        string table = EmulatorFixture.UniqueName("leases");
        using WorkerProcess first = await WorkerProcess.StartAsync(emulators, stream.Name, table, "pod-0", _directory, "", Failover, instance: "first", readMode: readMode);
        await stream.PutAsync(Enumerable.Range(0, 20).Select(i => $"key-{i % 10}"));
        await WaitForAllAsync(stream, [first], TimeSpan.FromSeconds(30));

        // SIGKILL: nothing released; the table still names pod-0 on both leases.
        first.Kill();
        await stream.PutAsync(Enumerable.Range(0, 20).Select(i => $"key-{i % 10}"));
        using WorkerProcess second = await WorkerProcess.StartAsync(emulators, stream.Name, table, restartedId, _directory, "", Failover, instance: "second", readMode: readMode);
        long ready = Stopwatch.GetTimestamp();
        // In fan-out mode the new process's first records wait for kinesis-mock's first push on its new subscriptions.
        TimeSpan bound = TimeSpan.FromSeconds(Failover) + RenewInterval + TimeSpan.FromSeconds(4) + LeaseOperationsSupport.FanOutDelay(readMode);
        await WaitForAllAsync(stream, [first, second], bound * 3);
        Dictionary<string, StreamRecord> records = stream.Put.ToDictionary(InvariantChecker.Id);
        IReadOnlyList<HandlerCall> resumed = second.ReadCalls(records);
        TimeSpan stalled = Stopwatch.GetElapsedTime(ready, resumed.Where(c => c.Succeeded).Max(c => c.EndedTicks));
        output.WriteLine($"{readMode}, restart with {how}: the 20 records put while it was down were handled {stalled.TotalSeconds:F1} s after the new process was ready (bound {bound.TotalSeconds:F1} s)");

        IReadOnlyList<IReadOnlyCollection<HandlerCall>> runs = [first.ReadCalls(records), resumed];
        InvariantChecker.Report report = InvariantChecker.Check(records.Values, runs, 0, []);
        Assert.Empty(InvariantChecker.CrossRunOverlaps(runs.SelectMany(r => r)));
        Assert.True(stalled < bound, $"the shards stood still for {stalled} after the restart");
        Assert.All(await LeaseOperationsSupport.ReadLeasesAsync(emulators, table), lease => Assert.Equal(restartedId, lease.Owner));
        output.WriteLine($"records {report.Records}, handled {report.Handled}, duplicates {report.Duplicates}, lost 0");
    }

    [Theory]
    [InlineData(KinesisReadMode.Polling)]
    [InlineData(KinesisReadMode.EnhancedFanOut)]
    public async Task A_second_process_started_under_a_worker_id_still_running_takes_over_and_the_first_stops(KinesisReadMode readMode)
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("twin"), 2);
        string table = EmulatorFixture.UniqueName("leases");
        using WorkerProcess old = await WorkerProcess.StartAsync(emulators, stream.Name, table, "pod-0", _directory, "", Failover, instance: "old", readMode: readMode);
        using var producing = new CancellationTokenSource();
        Task producer = Task.Run(async () =>
        {
            for (int batch = 0; batch < 40 && !producing.IsCancellationRequested; batch++)
            {
                await stream.PutAsync(Enumerable.Range(0, 10).Select(i => $"key-{i}"));
                await Task.Delay(200);
            }
        });
        // Wait until the old process handles records, not only until they are put: in fan-out mode kinesis-mock pushes
        // them a second or two later, and a new process started before that would leave the old one nothing to fence.
        await WaitUntilAsync(() => old.SucceededCount() >= 30, TimeSpan.FromSeconds(30), () => $"the old process handled {old.SucceededCount()} of {stream.Put.Count}");

        // The old process is alive, renewing and handling; the new one (a rescheduled pod whose predecessor did not die) takes
        // every lease at once, fencing the old one, and starts reading only once the old one must have stopped.
        using WorkerProcess @new = await WorkerProcess.StartAsync(emulators, stream.Name, table, "pod-0", _directory, "", Failover, instance: "new", readMode: readMode);
        long newReady = Stopwatch.GetTimestamp();
        await producer;
        await WaitForAllAsync(stream, [old, @new], TimeSpan.FromSeconds(60));

        Dictionary<string, StreamRecord> records = stream.Put.ToDictionary(InvariantChecker.Id);
        IReadOnlyList<HandlerCall> oldCalls = old.ReadCalls(records), newCalls = @new.ReadCalls(records);
        InvariantChecker.Check(records.Values, [oldCalls, newCalls], 0, []);
        IReadOnlyList<string> overlaps = InvariantChecker.CrossRunOverlaps(oldCalls.Concat(newCalls));
        Assert.True(overlaps.Count == 0, string.Join(Environment.NewLine, overlaps.Take(10)));

        // The old process was fenced at its next renewal: it started nothing later than a renew interval (and a margin
        // for a busy machine) after the new one was ready.
        TimeSpan oldLast = Stopwatch.GetElapsedTime(newReady, oldCalls.Max(c => c.StartedTicks));
        output.WriteLine($"{readMode}: old process's last call {oldLast.TotalSeconds:F1} s after the new one was ready; new handled {newCalls.Count(c => c.Succeeded)} of {records.Count}");
        Assert.True(oldLast < RenewInterval + TimeSpan.FromSeconds(2), $"the old process still handled records {oldLast} after the new one started");
        Assert.True(newCalls.Any(c => c.Succeeded), "the new process handled nothing");
        Assert.All(await LeaseOperationsSupport.ReadLeasesAsync(emulators, table), lease => Assert.Equal("pod-0", lease.Owner));
    }

    private static async Task WaitForAllAsync(KinesisTestStream stream, IReadOnlyList<WorkerProcess> workers, TimeSpan timeout)
    {
        await WaitUntilAsync(
            () =>
            {
                Dictionary<string, StreamRecord> records = stream.Put.ToDictionary(InvariantChecker.Id);
                var done = workers.SelectMany(w => w.ReadCalls(records)).Where(c => c.Succeeded).Select(c => InvariantChecker.Id(c.Record)).ToHashSet();
                return records.Keys.All(done.Contains);
            },
            timeout,
            () =>
            {
                Dictionary<string, StreamRecord> records = stream.Put.ToDictionary(InvariantChecker.Id);
                var done = workers.SelectMany(w => w.ReadCalls(records)).Where(c => c.Succeeded).Select(c => InvariantChecker.Id(c.Record)).ToHashSet();
                return $"{records.Keys.Count(done.Contains)} of {records.Count} handled";
            });
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
