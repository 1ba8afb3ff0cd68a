using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StreamLanes.DynamoDb;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.TestInfrastructure;
using Xunit.Abstractions;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Kinesis;

/// <summary>
/// KCL's multi-stream mode on kinesis-mock and DynamoDB Local: several streams in one consumer and one lease table
/// (keys <c>account-id:stream-name:creation-epoch:shard-id</c>), streams added and dropped at run time, and a KCL
/// multi-stream application's table taken over.
/// </summary>
[Collection(KinesisCollection.Name)]
public sealed class KinesisMultiStreamTests(KinesisAndDynamoDbFixture emulators, ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(45);

    [Theory]
    [InlineData(2, KinesisReadMode.Polling)]
    [InlineData(3, KinesisReadMode.Polling)]
    [InlineData(3, KinesisReadMode.EnhancedFanOut)]
    public async Task Several_streams_are_read_with_nothing_lost_per_key_order_kept_and_each_record_attributed_to_its_stream(int count, KinesisReadMode mode)
    {
        List<KinesisTestStream> streams = await CreateStreamsAsync(count, shards: 2);
        string table = EmulatorFixture.UniqueName("leases");
        await using KinesisMultiStreamWorker worker = KinesisMultiStreamWorker.Create(emulators, table, "worker-1",
            streams: streams.Select(s => new KinesisStreamOptions { StreamName = s.Name }),
            kinesis: options =>
            {
                options.ReadMode = mode;
                options.FanOut.ConsumerName = "multi-efo";
                options.FanOut.SubscriptionRenewal = TimeSpan.FromSeconds(2);
                options.FanOut.ShardEndProbeInterval = TimeSpan.FromMilliseconds(500);
            });
        await worker.StartAsync();

        // Interleaved puts: every stream gets records while the others are being read.
        for (int round = 0; round < 3; round++)
        {
            foreach (KinesisTestStream stream in streams)
            {
                await stream.PutAsync(Enumerable.Range(0, 40).Select(i => $"{stream.Name}-key-{i % 8}"));
            }
        }

        int total = streams.Sum(s => s.Put.Count);
        var clock = Stopwatch.StartNew();
        await WaitUntilAsync(() => HandledIds(worker).Count >= total, Patience, () => $"{HandledIds(worker).Count} of {total} handled");
        output.WriteLine($"{count} streams ({mode}): {total} records handled in {clock.Elapsed.TotalSeconds:F1} s");

        AssertEachHandledOnceInOrderPerKey(streams, worker.Handler);
        Assert.Empty(worker.DeadLetters.Envelopes);

        // One table for all: KCL's multi-stream keys, with the stream identifier and shard id beside them.
        List<Dictionary<string, AttributeValue>> items = await ScanAsync(table);
        Assert.Equal(streams.Count * 2, items.Count);
        foreach (KinesisTestStream stream in streams)
        {
            string streamId = await StreamIdOfAsync(stream);
            IReadOnlyList<KinesisShard> shards = await stream.Client.ListAllShardsAsync(stream.Name);
            foreach (KinesisShard shard in shards)
            {
                Dictionary<string, AttributeValue> item = Assert.Single(items, i => i["leaseKey"].S == $"{streamId}:{shard.ShardId}");
                Assert.Equal(streamId, item["streamName"].S);
                Assert.Equal(shard.ShardId, item["shardId"].S);
            }
        }
    }

    [Fact]
    public async Task A_stream_added_at_run_time_is_read_and_a_dropped_one_stops_being_read_and_its_leases_go_after_the_delay_but_not_before_its_records_in_flight_finish()
    {
        List<KinesisTestStream> streams = await CreateStreamsAsync(3, shards: 1);
        (KinesisTestStream a, KinesisTestStream b, KinesisTestStream c) = (streams[0], streams[1], streams[2]);
        string table = EmulatorFixture.UniqueName("leases");
        var wanted = new ConcurrentDictionary<string, bool>(StringComparer.Ordinal) { [a.Name] = true, [b.Name] = true };
        var events = new EventCollector();
        var blockedStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        string blockedKey = $"{b.Name}-blocked";
        var handler = new RecordingHandler
        {
            Behaviour = async (record, _, cancellationToken) =>
            {
                if (record.PartitionKey == blockedKey)
                {
                    blockedStarted.TrySetResult();
                    await release.Task.WaitAsync(cancellationToken);
                }
            },
        };
        await using KinesisMultiStreamWorker worker = KinesisMultiStreamWorker.Create(emulators, table, "worker-1",
            discover: _ => Task.FromResult<IReadOnlyList<KinesisStreamOptions>>([.. wanted.Keys.Order(StringComparer.Ordinal).Select(name => new KinesisStreamOptions { StreamName = name })]),
            handler: handler,
            build: consumer => consumer.Services.AddSingleton<ILoggerProvider>(events));
        await worker.StartAsync();

        await a.PutAsync(Enumerable.Range(0, 20).Select(i => $"{a.Name}-key-{i % 4}"));
        await b.PutAsync(Enumerable.Range(0, 20).Select(i => $"{b.Name}-key-{i % 4}"));
        await WaitUntilAsync(() => HandledIds(worker).Count >= 40, Patience, () => $"{HandledIds(worker).Count} of 40 handled");

        // Added: read from the next discovery on.
        wanted[c.Name] = true;
        var added = Stopwatch.StartNew();
        await c.PutAsync(Enumerable.Range(0, 20).Select(i => $"{c.Name}-key-{i % 4}"));
        await WaitUntilAsync(() => HandledIds(worker).Count >= 60, TimeSpan.FromSeconds(20), () => $"{HandledIds(worker).Count} of 60 handled after adding {c.Name}");
        output.WriteLine($"added stream read within {added.Elapsed.TotalSeconds:F1} s");

        // A record of B in flight (its handler blocked), three more of its key queued behind it.
        await b.PutAsync(Enumerable.Repeat(blockedKey, 4));
        await blockedStarted.Task.WaitAsync(Patience);

        // Dropped: B stops being read at the next discovery...
        wanted.TryRemove(b.Name, out _);
        var dropped = Stopwatch.StartNew();
        await WaitUntilAsync(() => !worker.Consumer.Inspect().StreamName.Contains(b.Name, StringComparison.Ordinal), TimeSpan.FromSeconds(10), () => worker.Consumer.Inspect().StreamName);
        await b.PutAsync(Enumerable.Range(0, 10).Select(i => $"{b.Name}-late-{i}"));
        await a.PutAsync(Enumerable.Range(0, 10).Select(i => $"{a.Name}-late-{i}"));

        // ...while its leases outlive the deletion delay as long as its records are in flight.
        string bId = await StreamIdOfAsync(b);
        bool BLeasesExist() => ScanAsync(table).GetAwaiter().GetResult().Any(item => item["leaseKey"].S.StartsWith(bId + ":", StringComparison.Ordinal));
        await WaitUntilAsync(() => events.Has(228) || !BLeasesExist(), TimeSpan.FromSeconds(20), () => "neither kept nor deleted: the clean-up never ran");
        Assert.True(BLeasesExist(), "the dropped stream's leases were deleted while its record was in flight");
        Assert.True(dropped.Elapsed >= TimeSpan.FromSeconds(3), $"the delay had not passed: {dropped.Elapsed}");
        Assert.DoesNotContain(worker.Handler.Successes, call => call.Record.PartitionKey == blockedKey);

        release.SetResult();
        await WaitUntilAsync(() => worker.Handler.Successes.Count(call => call.Record.PartitionKey == blockedKey) == 4, Patience, () => "the blocked records did not finish");
        long finished = worker.Handler.Successes.Where(call => call.Record.PartitionKey == blockedKey).Max(call => call.EndedTicks);
        long leasesGone = 0;
        await WaitUntilAsync(() =>
        {
            bool gone = !BLeasesExist();
            leasesGone = gone ? Stopwatch.GetTimestamp() : 0;
            return gone;
        }, TimeSpan.FromSeconds(20), () => "the dropped stream's leases were not deleted");
        Assert.True(leasesGone > finished);
        output.WriteLine($"dropped stream's leases deleted {dropped.Elapsed.TotalSeconds:F1} s after the drop, {Stopwatch.GetElapsedTime(finished, leasesGone).TotalSeconds:F1} s after its last record finished");

        // The other streams go on; nothing put into B after the drop was read.
        await WaitUntilAsync(() => worker.Handler.Successes.Count(call => call.Record.PartitionKey.StartsWith($"{a.Name}-late-", StringComparison.Ordinal)) == 10, Patience, () => "A's late records were not handled");
        Assert.DoesNotContain(worker.Handler.Calls, call => call.Record.PartitionKey.StartsWith($"{b.Name}-late-", StringComparison.Ordinal));
        string aId = await StreamIdOfAsync(a);
        Assert.Contains(await ScanAsync(table), item => item["leaseKey"].S.StartsWith(aId + ":", StringComparison.Ordinal));
        Assert.Equal(0, worker.Handler.Overlaps);
    }

    [Fact]
    public async Task Dead_letters_metrics_and_republishing_name_each_records_own_stream()
    {
        List<KinesisTestStream> streams = await CreateStreamsAsync(2, shards: 1);
        var handled = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == StreamLanesMetrics.MeterName && instrument.Name == "streamlanes.records.handled")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == "stream" && tag.Value is string stream)
                {
                    handled.AddOrUpdate(stream, (int)value, (_, sum) => sum + (int)value);
                }
            }
        });
        listener.Start();

        bool poison = true;
        var handler = new RecordingHandler
        {
            Behaviour = (record, _, _) => poison && record.PartitionKey.EndsWith("-poison", StringComparison.Ordinal)
                ? throw new NonRetryableException("poison")
                : ValueTask.CompletedTask,
        };
        await using KinesisMultiStreamWorker worker = KinesisMultiStreamWorker.Create(emulators, EmulatorFixture.UniqueName("leases"), "worker-1",
            streams: streams.Select(s => new KinesisStreamOptions { StreamName = s.Name }), handler: handler);
        await worker.StartAsync();
        foreach (KinesisTestStream stream in streams)
        {
            await stream.PutAsync(Enumerable.Range(0, 10).Select(i => i % 5 == 0 ? $"{stream.Name}-poison" : $"{stream.Name}-key-{i}"));
        }

        await WaitUntilAsync(() => worker.DeadLetters.Envelopes.Count == 4 && handled.Values.Sum() >= 16, Patience,
            () => $"{worker.DeadLetters.Envelopes.Count} of 4 dead letters, {handled.Values.Sum()} of 16 handled");
        foreach (KinesisTestStream stream in streams)
        {
            Assert.Equal(8, handled.GetValueOrDefault(stream.Name));
            string shard = stream.Put[0].ShardId;
            Assert.Equal(2, worker.DeadLetters.Envelopes.Count(e => e.Stream == stream.Name && e.Shard == shard && e.PartitionKey == $"{stream.Name}-poison"));
        }

        // Republished to each dead letter's own stream (no target given), where the consumer reads them again.
        poison = false;
        using (var republisher = new KinesisDeadLetterRepublisher(emulators.Kinesis.CreateClientOptions()))
        {
            foreach (var envelope in worker.DeadLetters.Envelopes)
            {
                await republisher.RepublishAsync(envelope, CancellationToken.None);
            }
        }

        await WaitUntilAsync(() => worker.Handler.Successes.Count(c => c.Record.PartitionKey.EndsWith("-poison", StringComparison.Ordinal)) == 4, Patience, () => "the republished records were not handled");
        Assert.All(worker.Handler.Successes.Where(c => c.Record.PartitionKey.EndsWith("-poison", StringComparison.Ordinal)),
            call => Assert.Equal($"{call.Record.StreamName}-poison", call.Record.PartitionKey));
    }

    private static HashSet<string> HandledIds(HostedWorker worker)
        => [.. worker.Handler.Successes.Select(call => $"{call.Record.StreamName}/{call.Record.ShardId}/{call.Record.SequenceNumber}/{call.Record.SubSequenceNumber}")];

    private async Task<List<KinesisTestStream>> CreateStreamsAsync(int count, int shards)
    {
        var streams = new List<KinesisTestStream>();
        for (int i = 0; i < count; i++)
        {
            streams.Add(await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName($"multi{i}"), shards));
        }

        return streams;
    }

    /// <summary>KCL's stream identifier as a KCL application builds it: account from the ARN, creation time in seconds.</summary>
    internal static async Task<string> StreamIdOfAsync(KinesisTestStream stream)
    {
        KinesisStreamSummary summary = await stream.Client.DescribeStreamSummaryAsync(stream.Name);
        string account = summary.StreamArn.Split(':')[4];
        Assert.Equal("000000000000", account);
        return $"{account}:{stream.Name}:{summary.StreamCreationTimestamp!.Value.ToUnixTimeSeconds()}";
    }

    internal async Task<List<Dictionary<string, AttributeValue>>> ScanAsync(string table)
    {
        using AmazonDynamoDBClient client = emulators.DynamoDb.CreateDynamoDbClient();
        ScanResponse response = await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true });
        return [.. response.Items.Where(LeaseItem.IsLease)]; // the leader lock and the workers' heartbeats are not leases
    }

    /// <summary>
    /// Every record put is handled successfully exactly once, as a record of the stream it was put into (its key names
    /// that stream), and per stream and key in sequence order without overlap.
    /// </summary>
    internal static void AssertEachHandledOnceInOrderPerKey(IEnumerable<KinesisTestStream> streams, RecordingHandler handler, Func<StreamRecord, bool>? expected = null)
    {
        var put = streams.SelectMany(s => s.Put).Where(r => expected?.Invoke(r) ?? true).ToDictionary(r => $"{r.StreamName}/{r.ShardId}/{r.SequenceNumber}", r => r);
        List<HandlerCall> successes = [.. handler.Successes];
        var problems = new List<string>();
        foreach (IGrouping<string, HandlerCall> record in successes.GroupBy(call => $"{call.Record.StreamName}/{call.Record.ShardId}/{call.Record.SequenceNumber}"))
        {
            StreamRecord handled = record.First().Record;
            if (!put.TryGetValue(record.Key, out StreamRecord? original) || !handled.Data.Span.SequenceEqual(original.Data.Span) || handled.PartitionKey != original.PartitionKey)
            {
                problems.Add($"{record.Key} (key {handled.PartitionKey}) handled but not expected: not put into {handled.StreamName}, or at or before a checkpoint");
            }
            else if (!handled.PartitionKey.StartsWith(handled.StreamName + "-", StringComparison.Ordinal))
            {
                problems.Add($"{record.Key}: key {handled.PartitionKey} attributed to {handled.StreamName}");
            }

            if (record.Count() > 1)
            {
                problems.Add($"{record.Key} handled {record.Count()} times");
            }
        }

        problems.AddRange(put.Keys.Where(id => !successes.Any(call => $"{call.Record.StreamName}/{call.Record.ShardId}/{call.Record.SequenceNumber}" == id)).Select(id => $"{id} never handled"));
        foreach (IGrouping<string, HandlerCall> key in successes.GroupBy(call => $"{call.Record.StreamName}/{call.Record.PartitionKey}"))
        {
            HandlerCall? previous = null;
            foreach (HandlerCall call in key.OrderBy(call => call.StartedTicks))
            {
                if (previous is not null && (call.Record.Position.CompareTo(previous.Record.Position) <= 0 || call.StartedTicks < previous.EndedTicks))
                {
                    problems.Add($"{key.Key}: {call.Record.SequenceNumber} out of order after {previous.Record.SequenceNumber}");
                }

                previous = call;
            }
        }

        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems.Take(20)));
        Assert.Equal(0, handler.Overlaps);
    }

    /// <summary>Collects the event ids the consumer logs, at every level.</summary>
    private sealed class EventCollector : ILoggerProvider
    {
        private readonly ConcurrentDictionary<int, bool> _events = new();

        public bool Has(int eventId) => _events.ContainsKey(eventId);

        public ILogger CreateLogger(string categoryName) => new Logger(_events);

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentDictionary<int, bool> events) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
                => events[eventId.Id] = true;
        }
    }
}
