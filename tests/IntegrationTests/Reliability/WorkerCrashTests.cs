using StreamLanes.Engine.Tests.Support;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.Sinks;
using StreamLanes.TestInfrastructure;
using Xunit.Abstractions;

namespace StreamLanes.IntegrationTests.Reliability;

[Collection(KinesisCollection.Name)]
public sealed class WorkerCrashTests(KinesisAndDynamoDbFixture emulators, ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("streamlanes-crash-").FullName;

    [Theory]
    [InlineData(101)]
    [InlineData(202)]
    [InlineData(303)]
    public async Task Workers_killed_with_sigkill_while_a_producer_writes_lose_nothing_and_keep_key_order(int seed)
    {
        var random = new Random(seed);
        const double failover = 3;
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("crash"), 6);
        string table = EmulatorFixture.UniqueName("leases");
        var workers = new List<WorkerProcess>();
        try
        {
            for (int i = 1; i <= 3; i++)
            {
                workers.Add(await WorkerProcess.StartAsync(emulators, stream.Name, table, $"worker-{i}", _directory, "key-13", failover));
            }

            // The producer writes 3,000 records over about six seconds while the workers are killed one by one.
            Task producer = Task.Run(async () =>
            {
                for (int batch = 0; batch < 30; batch++)
                {
                    await stream.PutAsync(Enumerable.Range(0, 100).Select(_ => $"key-{random.Next(200)}"));
                    await Task.Delay(200);
                }
            });

            // Kills come after a random amount of work rather than of time, so a busy machine shifts them, not the test.
            await WaitForHandledAsync(workers, random.Next(300, 900));
            WorkerProcess first = workers[random.Next(3)];
            first.Kill();
            output.WriteLine($"killed {first.Id}");
            await WaitForHandledAsync(workers, random.Next(1200, 2000));
            WorkerProcess second = workers.Where(w => !w.Killed).ElementAt(random.Next(2));
            second.Kill();
            output.WriteLine($"killed {second.Id}");
            await producer;

            Dictionary<string, StreamRecord> records = stream.Put.ToDictionary(InvariantChecker.Id);
            InvariantChecker.Report? report = null;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            while (true)
            {
                IReadOnlyList<IReadOnlyCollection<HandlerCall>> runs = [.. workers.Select(w => (IReadOnlyCollection<HandlerCall>)w.ReadCalls(records))];
                IReadOnlyList<DeadLetterEnvelope> letters = [.. (await Task.WhenAll(workers.Select(w => JsonLinesDeadLetterSink.ReadAllAsync(w.DeadLetterFile)))).SelectMany(l => l)];
                var done = runs.SelectMany(r => r.Where(c => c.Succeeded).Select(c => InvariantChecker.Id(c.Record)))
                    .Concat(letters.Select(l => $"{l.Shard}/{l.SequenceNumber}/{l.SubSequenceNumber}")).ToHashSet();
                if (records.Keys.All(done.Contains))
                {
                    report = InvariantChecker.Check(records.Values, runs, 0, letters);
                    IReadOnlyList<string> overlaps = InvariantChecker.CrossRunOverlaps(runs.SelectMany(r => r));
                    Assert.True(overlaps.Count == 0, string.Join(Environment.NewLine, overlaps.Take(10)));
                    Assert.All(records.Values.Where(r => r.PartitionKey == "key-13"), r => Assert.Contains(letters, l => l.SequenceNumber == r.SequenceNumber && l.Shard == r.ShardId));
                    break;
                }

                await Task.Delay(250, timeout.Token);
            }

            output.WriteLine($"seed {seed}: records {report.Records}, handled {report.Handled}, dead-lettered {report.DeadLettered}, duplicates {report.Duplicates}, lost 0");
        }
        finally
        {
            foreach (WorkerProcess worker in workers)
            {
                worker.Dispose();
            }
        }
    }

    /// <summary>Waits until the workers' call logs hold <paramref name="count"/> successful calls in all.</summary>
    private static async Task WaitForHandledAsync(IReadOnlyList<WorkerProcess> workers, int count)
    {
        await Eventually.WaitUntilAsync(() => workers.Sum(CountSuccesses) >= count, TimeSpan.FromSeconds(60), () => $"{workers.Sum(CountSuccesses)} of {count} calls done");

        static int CountSuccesses(WorkerProcess worker)
        {
            using var reader = new StreamReader(new FileStream(worker.CallLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
            int successes = 0;
            while (reader.ReadLine() is { } line)
            {
                if (line.StartsWith("E|", StringComparison.Ordinal) && line.EndsWith("|1", StringComparison.Ordinal))
                {
                    successes++;
                }
            }

            return successes;
        }
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
