using System.Collections.Concurrent;
using System.Diagnostics;
using Amazon.DynamoDBv2;
using Microsoft.Extensions.Logging;
using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.IntegrationTests.Support;

namespace StreamLanes.IntegrationTests.Operations;

/// <summary>What the lease operations tests share: reading the lease table, watching it, checking order across a reshard.</summary>
internal static class LeaseOperationsSupport
{
    /// <summary>
    /// What kinesis-mock adds in fan-out mode before the first record of a new subscription reaches the handler: it pushes
    /// one event per second and its h2c server holds each about another second (polling reads at once). Time bounds
    /// that include a subscription's start are widened by this much in fan-out mode, and by nothing else.
    /// </summary>
    public static TimeSpan FanOutDelay(KinesisReadMode readMode) => readMode == KinesisReadMode.EnhancedFanOut ? TimeSpan.FromSeconds(2) : TimeSpan.Zero;

    public static async Task<IReadOnlyList<Lease>> ReadLeasesAsync(KinesisAndDynamoDbFixture emulators, string table)
    {
        using AmazonDynamoDBClient client = emulators.DynamoDb.CreateDynamoDbClient();
        return await new DynamoDbLeaseTable(client, table).ListAsync(default);
    }

    /// <summary>
    /// Per key, across shards: a key's records in stream order (every parent's records before its children's, each
    /// shard in sequence order) are never started before the key's previous record was done, and never overlap.
    /// </summary>
    public static void AssertKeyOrderAcrossShards(IEnumerable<HandlerCall> calls, IReadOnlyDictionary<string, int> generationOfShard)
    {
        var problems = new List<string>();
        foreach (IGrouping<string, HandlerCall> key in calls.GroupBy(call => call.Record.PartitionKey))
        {
            long previousDone = long.MinValue;
            string previous = "";
            foreach (IGrouping<(int, SequenceNumber), HandlerCall> record in key
                .GroupBy(call => (generationOfShard[call.Record.ShardId], call.Record.Position))
                .OrderBy(group => group.Key.Item1).ThenBy(group => group.Key.Item2))
            {
                HandlerCall first = record.MinBy(call => call.StartedTicks)!;
                if (first.StartedTicks < previousDone)
                {
                    problems.Add($"key {key.Key}: {first.Record.ShardId}/{first.Record.SequenceNumber} started {Stopwatch.GetElapsedTime(first.StartedTicks, previousDone).TotalMilliseconds:F0} ms before {previous} was done");
                }

                long done = record.Where(call => call.Succeeded).Select(call => call.EndedTicks).DefaultIfEmpty(long.MaxValue).Min();
                previousDone = Math.Max(previousDone, done);
                previous = $"{first.Record.ShardId}/{first.Record.SequenceNumber}";
            }
        }

        Assert.True(problems.Count == 0, $"{problems.Count} order violations across the reshard:{Environment.NewLine}{string.Join(Environment.NewLine, problems.Take(10))}");
    }

    /// <summary>Polls the lease table until <paramref name="condition"/> holds; fails with the leases last seen.</summary>
    public static async Task WaitForLeasesAsync(KinesisAndDynamoDbFixture emulators, string table, Func<IReadOnlyList<Lease>, bool> condition, TimeSpan timeout)
    {
        using AmazonDynamoDBClient client = emulators.DynamoDb.CreateDynamoDbClient();
        var leases = new DynamoDbLeaseTable(client, table);
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            IReadOnlyList<Lease> seen = await leases.ListAsync(default);
            if (condition(seen))
            {
                return;
            }

            try
            {
                await Task.Delay(25, cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Leases not as expected within {timeout}: {string.Join(", ", seen.Select(l => $"{l.LeaseKey}={l.Owner ?? "-"}@{l.Checkpoint}"))}");
            }
        }
    }

    /// <summary>Polls the lease table until <paramref name="shard"/> is checkpointed at SHARD_END; returns when (a Stopwatch timestamp).</summary>
    public static async Task<long> WaitForShardEndAsync(KinesisAndDynamoDbFixture emulators, string table, string shard, TimeSpan timeout)
    {
        using AmazonDynamoDBClient client = emulators.DynamoDb.CreateDynamoDbClient();
        var leases = new DynamoDbLeaseTable(client, table);
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            if ((await leases.GetAsync(shard, default))?.IsShardEnd == true)
            {
                return Stopwatch.GetTimestamp();
            }

            try
            {
                await Task.Delay(25, cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{shard} did not reach SHARD_END within {timeout}.");
            }
        }
    }
}

/// <summary>Keeps every log line at Warning or above, to prove the normal path logs none.</summary>
internal sealed class WarningCollector : ILoggerProvider
{
    public ConcurrentQueue<string> Warnings { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(Warnings);

    public void Dispose()
    {
    }

    private sealed class Logger(ConcurrentQueue<string> warnings) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Warning)
            {
                warnings.Enqueue($"{logLevel}: {formatter(state, exception)} {exception?.GetType().Name}");
            }
        }
    }
}
