using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;

namespace StreamLanes.Engine.Tests.Lifecycle;

public sealed class LifecycleTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "streamlanes-tests", Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task Graceful_stop_drains_buffered_records_and_writes_the_final_checkpoint()
    {
        var stream = new InMemoryStream("orders", shardCount: 2);
        var checkpoints = new InMemoryCheckpointStore();
        var handler = new RecordingHandler { Behaviour = static async (_, _, token) => await Task.Delay(20, token) };
        await using var harness = ConsumerHarness.Create(stream, handler, options =>
        {
            options.CheckpointInterval = TimeSpan.FromHours(1); // only the final checkpoint is written
            options.MaxCheckpointAge = TimeSpan.FromHours(1);
            options.MaxConcurrentHandlers = 4;
        }, checkpoints: checkpoints);
        var put = Enumerable.Range(0, 400).Select(i => stream.Put($"key-{i % 40}", "{}")).ToList();
        await harness.StartAsync();
        await harness.WaitUntilAsync(status => status.Handled > 20);

        await harness.StopAsync();
        StreamConsumerStatus stopped = harness.Consumer.GetStatus();
        Assert.False(stopped.Running);
        Assert.Equal(0, stopped.Buffered);
        Assert.Equal(stopped.Received, stopped.Handled);

        // The final checkpoint of each shard covers exactly what was read (and therefore handled).
        foreach (string shard in stream.ShardIds)
        {
            SequenceNumber saved = await checkpoints.GetAsync(new CheckpointKey(ConsumerHarness.ConsumerName, "orders", shard), default);
            var handledOnShard = handler.Successes.Where(c => c.Record.ShardId == shard).Select(c => c.Record.Position).ToList();
            Assert.Equal(handledOnShard.Max(), saved);
            Assert.Equal(handledOnShard.Count, stream.Records(stream.ShardIds.ToList().IndexOf(shard)).Count(r => r.Position <= saved));
        }
    }

    [Fact]
    public async Task A_drain_timeout_cancels_what_is_left_and_the_checkpoint_stops_before_it()
    {
        var stream = new InMemoryStream("orders", shardCount: 1);
        var checkpoints = new InMemoryCheckpointStore();
        var handler = new RecordingHandler
        {
            Behaviour = static async (record, _, token) =>
            {
                if (record.PartitionKey == "stuck")
                {
                    await Task.Delay(Timeout.Infinite, token);
                }
            },
        };
        await using var harness = ConsumerHarness.Create(stream, handler, options =>
        {
            options.DrainTimeout = TimeSpan.FromMilliseconds(300);
            options.AttemptTimeout = null;
        }, checkpoints: checkpoints);
        var before = Enumerable.Range(0, 10).Select(i => stream.Put($"k{i}", "{}")).ToList();
        StreamRecord stuck = stream.Put("stuck", "{}");
        var after = Enumerable.Range(0, 10).Select(i => stream.Put($"k{i}", "{}")).ToList();
        await harness.StartAsync();
        await harness.WaitUntilAsync(status => status.Handled == 20);

        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        await harness.StopAsync();
        Assert.InRange(stopwatch.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
        SequenceNumber saved = await checkpoints.GetAsync(new CheckpointKey(ConsumerHarness.ConsumerName, "orders", stream.ShardIds[0]), default);
        Assert.Equal(before[^1].Position, saved);
        Assert.Empty(harness.DeadLetters);
        Assert.Equal(1, harness.Consumer.GetStatus().Buffered);
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    public async Task After_a_crash_a_restart_from_the_file_store_handles_or_dead_letters_every_record(int seed)
    {
        var random = new Random(seed);
        var stream = new InMemoryStream("orders", shardCount: 3);
        var put = Enumerable.Range(0, 3000).Select(i => stream.Put($"key-{random.Next(200)}", $"{{\"n\":{i}}}")).ToList();
        string deadLetterFile = Path.Combine(_directory, "dead-letters.jsonl");
        Func<StreamRecord, int, CancellationToken, ValueTask> behaviour = async (record, attempt, token) =>
        {
            if (record.PartitionKey == "key-13")
            {
                throw new InvalidOperationException("poison");
            }

            if (record.Data.Span[^2] == (byte)'7')
            {
                await Task.Delay(1, token);
            }
        };

        // First run: crash (no graceful stop: no drain, no final checkpoint) part-way through.
        var firstHandler = new RecordingHandler { Behaviour = behaviour };
        var first = ConsumerHarness.Create(stream, firstHandler, options => options.MaxAttempts = 2,
            checkpoints: new FileCheckpointStore(Path.Combine(_directory, "checkpoints")), sink: new JsonLinesDeadLetterSink(deadLetterFile));
        await first.StartAsync();
        await first.WaitUntilAsync(status => status.Handled > random.Next(300, 1500) && status.LastCheckpointAt is not null);
        first.Host.Dispose();

        // Second run, a new process as far as the stores can tell.
        var secondHandler = new RecordingHandler { Behaviour = behaviour };
        await using var second = ConsumerHarness.Create(stream, secondHandler, options => options.MaxAttempts = 2,
            checkpoints: new FileCheckpointStore(Path.Combine(_directory, "checkpoints")), sink: new JsonLinesDeadLetterSink(deadLetterFile));
        await second.StartAsync();
        IReadOnlyList<DeadLetterEnvelope> letters = [];
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (true)
            {
                letters = await JsonLinesDeadLetterSink.ReadAllAsync(deadLetterFile);
                var done = firstHandler.Successes.Concat(secondHandler.Successes).Select(c => InvariantChecker.Id(c.Record))
                    .Concat(letters.Select(l => $"{l.Shard}/{l.SequenceNumber}/{l.SubSequenceNumber}")).ToHashSet();
                if (put.All(record => done.Contains(InvariantChecker.Id(record))))
                {
                    break;
                }

                await Task.Delay(20, timeout.Token);
            }
        }

        Assert.True(secondHandler.Calls.Count < put.Count, "the restart resumed from the checkpoint instead of starting over");
        var poisonIds = put.Where(r => r.PartitionKey == "key-13").Select(InvariantChecker.Id).ToHashSet();
        Assert.Superset(poisonIds, letters.Select(l => $"{l.Shard}/{l.SequenceNumber}/{l.SubSequenceNumber}").ToHashSet());
        InvariantChecker.Report report = InvariantChecker.Check(put, [firstHandler, secondHandler], letters);
        Assert.Equal(put.Count - poisonIds.Count, report.Handled);
    }

    [Fact]
    public async Task A_sealed_shard_is_checkpointed_as_shard_end_and_skipped_after_a_restart()
    {
        var stream = new InMemoryStream("orders", shardCount: 2);
        var checkpoints = new InMemoryCheckpointStore();
        var handler = new RecordingHandler();
        var put = Enumerable.Range(0, 100).Select(i => stream.Put($"k{i}", "{}")).ToList();
        stream.Seal();
        await using (var harness = ConsumerHarness.Create(stream, handler, checkpoints: checkpoints))
        {
            await harness.StartAsync();
            await harness.WaitUntilAsync(status => status.OpenShards == 0);
            Assert.All(stream.ShardIds, shard => Assert.True(checkpoints.Checkpoints[new CheckpointKey(ConsumerHarness.ConsumerName, "orders", shard)].IsShardEnd));
        }

        var again = new RecordingHandler();
        await using var restarted = ConsumerHarness.Create(stream, again, checkpoints: checkpoints);
        await restarted.StartAsync();

        // The in-memory source opens every shard it will read before its start returns, so no shard opening now means
        // none later; and after a graceful stop no reader or handler runs any more: "nothing was handled" is then final,
        // with no sleep to hope that something would have had time to happen.
        Assert.Equal(0, restarted.Consumer.GetStatus().OpenShards);
        await restarted.StopAsync();
        Assert.Empty(again.Calls);
        Assert.Equal(0, restarted.Consumer.GetStatus().Received);
        InvariantChecker.Check(put, handler, []);
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
