using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.Lifecycle;

public sealed class ReaderFaultTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    /// <summary>Polls the health check until <paramref name="condition"/> holds; fails with the last entry after <see cref="Bound"/>.</summary>
    private static async Task<HealthReportEntry> WaitForHealthAsync(IServiceProvider services, Func<HealthReportEntry, bool> condition)
    {
        HealthCheckService health = services.GetRequiredService<HealthCheckService>();
        var elapsed = Stopwatch.StartNew();
        while (true)
        {
            HealthReportEntry entry = (await health.CheckHealthAsync()).Entries["streamlanes-orders"];
            if (condition(entry))
            {
                return entry;
            }

            Assert.True(elapsed.Elapsed < Bound, $"health not reached in {Bound}; last: {entry.Status} {entry.Description}");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task A_checkpoint_beyond_the_in_memory_stream_end_makes_the_consumer_unhealthy_naming_the_shard_and_stops_it()
    {
        // The ASP.NET sample restarted: its checkpoints survived, its in-memory stream starts empty.
        var stream = new InMemoryStream("orders", shardCount: 2);
        var checkpoints = new InMemoryCheckpointStore();
        await checkpoints.SaveAsync(new CheckpointKey(ConsumerHarness.ConsumerName, "orders", stream.ShardIds[0]), SequenceNumber.FromInteger(100), default);
        var handler = new RecordingHandler();
        var logs = new CollectingLoggerProvider();
        await using var harness = ConsumerHarness.Create(stream, handler, checkpoints: checkpoints, build: b => b.Services.AddLogging(l => l.AddProvider(logs)));
        await harness.StartAsync();

        HealthReportEntry entry = await WaitForHealthAsync(harness.Host.Services, e => e.Status == HealthStatus.Unhealthy);
        Assert.Contains(stream.ShardIds[0], entry.Description, StringComparison.Ordinal);
        Assert.Contains("CheckpointBeyondStreamEndException", entry.Description, StringComparison.Ordinal);
        StreamConsumerStatus status = harness.Consumer.GetStatus();
        ShardReaderFault fault = Assert.Single(status.ReaderFaults);
        Assert.True(fault.Fatal);
        Assert.Equal(stream.ShardIds[0], fault.ShardId);
        Assert.Contains("is 100, beyond the shard's last record (0 records)", status.Fault!.Message, StringComparison.Ordinal);

        // Stopped, not silently stalled: the consumer says so and its checkpoint was not moved.
        var elapsed = Stopwatch.StartNew();
        while (harness.Consumer.GetStatus().Running)
        {
            Assert.True(elapsed.Elapsed < Bound, "the consumer did not stop after a fatal reader fault");
            await Task.Delay(10);
        }
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Critical && e.Id.Id == 31 && e.Message.Contains(stream.ShardIds[0], StringComparison.Ordinal));
        Assert.Equal(SequenceNumber.FromInteger(100), await checkpoints.GetAsync(new CheckpointKey(ConsumerHarness.ConsumerName, "orders", stream.ShardIds[0]), default));
    }

    [Fact]
    public async Task Stopping_the_host_after_a_fatal_reader_fault_completes_without_an_exception()
    {
        var stream = new InMemoryStream("orders", shardCount: 1);
        var checkpoints = new InMemoryCheckpointStore();
        await checkpoints.SaveAsync(new CheckpointKey(ConsumerHarness.ConsumerName, "orders", stream.ShardIds[0]), SequenceNumber.FromInteger(5), default);
        var harness = ConsumerHarness.Create(stream, new RecordingHandler(), checkpoints: checkpoints);
        try
        {
            await harness.StartAsync();
            await WaitForHealthAsync(harness.Host.Services, e => e.Status == HealthStatus.Unhealthy);

            var stopwatch = Stopwatch.StartNew();
            using var timeout = new CancellationTokenSource(Bound);
            await harness.Host.StopAsync(timeout.Token); // threw the reader's exception before (a crashed process, exit 134)
            Assert.InRange(stopwatch.Elapsed, TimeSpan.Zero, Bound);
            Assert.False(harness.Consumer.GetStatus().Running);
        }
        finally
        {
            harness.Host.Dispose();
        }
    }

    /// <summary>A checkpoint store that refuses <c>SHARD_END</c> while <see cref="Failing"/> is set (a store outage at the shard's end).</summary>
    private sealed class ShardEndOutageStore : ICheckpointStore
    {
        public InMemoryCheckpointStore Inner { get; } = new();

        public volatile bool Failing = true;

        public int Refused;

        public ValueTask<SequenceNumber> GetAsync(CheckpointKey key, CancellationToken cancellationToken) => Inner.GetAsync(key, cancellationToken);

        public ValueTask SaveAsync(CheckpointKey key, SequenceNumber position, CancellationToken cancellationToken)
        {
            if (position.IsShardEnd && Failing)
            {
                Interlocked.Increment(ref Refused);
                return ValueTask.FromException(new IOException("checkpoint store unreachable"));
            }

            return Inner.SaveAsync(key, position, cancellationToken);
        }
    }

    [Fact]
    public async Task The_in_memory_reader_retries_a_failed_shard_end_checkpoint_unhealthy_meanwhile_and_healthy_once_it_is_saved()
    {
        var stream = new InMemoryStream("orders", shardCount: 1);
        var put = Enumerable.Range(0, 30).Select(i => stream.Put($"key-{i % 3}", "{}")).ToList();
        stream.Seal();
        var store = new ShardEndOutageStore();
        var handler = new RecordingHandler();
        await using var harness = ConsumerHarness.Create(stream, handler, checkpoints: store);
        await harness.StartAsync();

        HealthReportEntry failing = await WaitForHealthAsync(harness.Host.Services, e => e.Status == HealthStatus.Unhealthy && Volatile.Read(ref store.Refused) >= 2);
        Assert.Contains($"shard '{stream.ShardIds[0]}'", failing.Description, StringComparison.Ordinal);
        Assert.Contains("System.IO.IOException", failing.Description, StringComparison.Ordinal);
        Assert.False(Assert.Single(harness.Consumer.GetStatus().ReaderFaults).Fatal);
        Assert.True(harness.Consumer.GetStatus().Running);

        store.Failing = false;
        await WaitForHealthAsync(harness.Host.Services, e => e.Status == HealthStatus.Healthy);
        Assert.True((await store.Inner.GetAsync(new CheckpointKey(ConsumerHarness.ConsumerName, "orders", stream.ShardIds[0]), default)).IsShardEnd);
        Assert.Empty(harness.Consumer.GetStatus().ReaderFaults);
        InvariantChecker.Check(put, handler, harness.DeadLetters);
    }

    /// <summary>
    /// A one-shard source whose reader fails while <see cref="Failing"/> is set, reporting each failure as transient
    /// and retrying with a back-off, as the AWS sources do through <see cref="ISourceHost"/>.
    /// </summary>
    private sealed class FlakySource : IStreamSource
    {
        private readonly CancellationTokenSource _stop = new();
        private Task _reader = Task.CompletedTask;

        public volatile bool Failing;

        public ConcurrentQueue<string> Pending { get; } = new();

        public int Failures;

        public SourceKind Kind => SourceKind.InMemory;

        public string StreamName => "flaky";

        public Task StartAsync(ISourceHost host, CancellationToken cancellationToken)
        {
            IShardProcessor shard = host.OpenShard("shard-0", host.CreateCheckpointer("flaky", "shard-0"), SequenceNumber.None);
            _reader = Task.Run(async () =>
            {
                ulong sequence = 0;
                while (!_stop.IsCancellationRequested)
                {
                    if (Failing)
                    {
                        Interlocked.Increment(ref Failures);
                        host.ReportReaderFault("shard-0", new IOException("connection reset"), fatal: false);
                    }
                    else
                    {
                        host.ReportReaderRecovered("shard-0");
                        while (Pending.TryDequeue(out string? key))
                        {
                            await shard.EnqueueAsync(new StreamRecord(SourceKind.InMemory, "flaky", "shard-0", SequenceNumber.FromInteger(++sequence), key, "{}"u8.ToArray(), DateTimeOffset.UtcNow), _stop.Token);
                        }
                    }

                    await Task.Delay(10, _stop.Token).ContinueWith(static _ => { }, TaskScheduler.Default);
                }
            }, CancellationToken.None);
            return Task.CompletedTask;
        }

        public async Task StopReadingAsync(CancellationToken cancellationToken)
        {
            await _stop.CancelAsync();
            await _reader.WaitAsync(cancellationToken);
        }

        public Task ReleaseAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    [Fact]
    public async Task A_transient_reader_fault_is_unhealthy_while_it_lasts_and_healthy_again_after_a_successful_read()
    {
        var source = new FlakySource { Failing = true };
        var handler = new RecordingHandler();
        var logs = new CollectingLoggerProvider();
        await using var harness = ConsumerHarness.Create(new InMemoryStream("unused"), handler, build: b => b.FromSource(_ => source).Services.AddLogging(l => l.AddProvider(logs)));
        await harness.StartAsync();

        HealthReportEntry failing = await WaitForHealthAsync(harness.Host.Services, e => e.Status == HealthStatus.Unhealthy && Volatile.Read(ref source.Failures) >= 3);
        Assert.Contains("shard 'shard-0'", failing.Description, StringComparison.Ordinal);
        Assert.Contains("System.IO.IOException", failing.Description, StringComparison.Ordinal);
        Assert.DoesNotContain("connection reset", failing.Description, StringComparison.Ordinal);
        StreamConsumerStatus during = harness.Consumer.GetStatus();
        Assert.True(during.Running);
        ShardReaderFault fault = Assert.Single(during.ReaderFaults);
        Assert.False(fault.Fatal);
        Assert.True(fault.ConsecutiveFailures >= 3);

        string[] keys = [.. Enumerable.Range(0, 20).Select(i => $"key-{i % 4}")];
        foreach (string key in keys)
        {
            source.Pending.Enqueue(key);
        }

        source.Failing = false;
        await WaitForHealthAsync(harness.Host.Services, e => e.Status == HealthStatus.Healthy);
        await harness.WaitUntilAsync(status => status.Handled == keys.Length, Bound);
        Assert.Empty(harness.Consumer.GetStatus().ReaderFaults);
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Error && e.Id.Id == 30 && e.Message.Contains("shard-0", StringComparison.Ordinal));
        Assert.Contains(logs.Entries, e => e.Id.Id == 32 && e.Message.Contains("shard-0", StringComparison.Ordinal));
        Assert.Equal(keys.Length, handler.Successes.Select(c => c.Record.SequenceNumber).Distinct().Count());
        foreach (IGrouping<string, HandlerCall> key in handler.Successes.GroupBy(c => c.Record.PartitionKey))
        {
            Assert.Equal(key.Select(c => c.Record.Position).Order(), key.OrderBy(c => c.StartedTicks).Select(c => c.Record.Position));
        }
    }
}
