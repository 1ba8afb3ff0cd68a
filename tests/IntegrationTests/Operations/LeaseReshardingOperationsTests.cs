using System.Diagnostics;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StreamLanes.Aws;
using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.TestInfrastructure;
using Xunit.Abstractions;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Operations;

/// <summary>
/// Resharding while a worker reads (a live split and a live merge under load), and taking over a Java KCL
/// application's lease table in the middle of a split. The periodic shard sync is left at its default (60 s), so that
/// only the work done at <c>SHARD_END</c> can start the children in time. Each runs in both read modes; in fan-out
/// mode kinesis-mock never announces a shard's end on the subscription, so the reader's idle probe finds it
/// (<see cref="KinesisWorker.UseReadMode"/>).
/// </summary>
[Collection(KinesisCollection.Name)]
public sealed class LeaseReshardingOperationsTests(KinesisAndDynamoDbFixture emulators, ITestOutputHelper output)
{
    private const string MiddleHashKey = "170141183460469231731687303715884105728";
    private static readonly TimeSpan ChildStartBound = TimeSpan.FromSeconds(5);

    private KinesisWorker CreateWorker(KinesisTestStream stream, string table, WarningCollector warnings, KinesisReadMode readMode, string id = "worker-1")
        => KinesisWorker.Create(emulators, stream.Name, table, id, kinesis: options =>
        {
            options.Leases.ShardSyncInterval = TimeSpan.FromSeconds(60);
            options.Leases.FailoverTime = TimeSpan.FromSeconds(3);
        }, build: consumer => consumer.Services.AddSingleton<ILoggerProvider>(warnings), readMode: readMode);

    [Theory]
    [InlineData(KinesisReadMode.Polling)]
    [InlineData(KinesisReadMode.EnhancedFanOut)]
    public async Task A_live_split_under_load_reads_the_children_within_seconds_of_the_parents_shard_end(KinesisReadMode readMode)
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("split"), 1);
        string table = EmulatorFixture.UniqueName("leases");
        var warnings = new WarningCollector();
        await using KinesisWorker worker = CreateWorker(stream, table, warnings, readMode);
        await worker.StartAsync();
        string parent = (await stream.Client.ListAllShardsAsync(stream.Name)).Single().ShardId;

        await RunUnderLoadAsync(stream, async () =>
        {
            await stream.Client.SplitShardAsync(stream.Name, parent, MiddleHashKey);
            await stream.Client.WaitForStreamActiveAsync(stream.Name);
        }, [parent], table, worker);

        IReadOnlyList<Lease> leases = await LeaseOperationsSupport.ReadLeasesAsync(emulators, table);
        Lease ended = leases.Single(l => l.LeaseKey == parent);
        Assert.Null(ended.Owner);
        Assert.True(ended.IsShardEnd);
        Assert.Equal(leases.Where(l => l.LeaseKey != parent).Select(l => l.LeaseKey).Order(), ended.ChildShardIds.Order());
        Assert.All(leases.Where(l => l.LeaseKey != parent), child => Assert.Equal([parent], child.ParentShardIds));
        Assert.All(leases.Where(l => l.LeaseKey != parent), child => Assert.NotNull(child.StartingHashKey));
        await worker.StopAsync();
        Assert.True(warnings.Warnings.IsEmpty, string.Join(Environment.NewLine, warnings.Warnings));
        Assert.All(await LeaseOperationsSupport.ReadLeasesAsync(emulators, table), lease => Assert.Null(lease.Owner));
    }

    [Theory]
    [InlineData(KinesisReadMode.Polling)]
    [InlineData(KinesisReadMode.EnhancedFanOut)]
    public async Task A_live_merge_under_load_reads_the_child_within_seconds_of_both_parents_shard_end(KinesisReadMode readMode)
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("merge"), 2);
        string table = EmulatorFixture.UniqueName("leases");
        var warnings = new WarningCollector();
        await using KinesisWorker worker = CreateWorker(stream, table, warnings, readMode);
        await worker.StartAsync();
        string[] parents = [.. (await stream.Client.ListAllShardsAsync(stream.Name)).Select(s => s.ShardId).Order()];

        await RunUnderLoadAsync(stream, async () =>
        {
            await stream.Client.MergeShardsAsync(stream.Name, parents[0], parents[1]);
            await stream.Client.WaitForStreamActiveAsync(stream.Name);
        }, parents, table, worker);

        IReadOnlyList<Lease> leases = await LeaseOperationsSupport.ReadLeasesAsync(emulators, table);
        Lease child = leases.Single(l => !parents.Contains(l.LeaseKey));
        Assert.Equal(parents, child.ParentShardIds.Order());
        Assert.All(leases.Where(l => parents.Contains(l.LeaseKey)), p => Assert.True(p.IsShardEnd && p.Owner is null && p.ChildShardIds.SequenceEqual([child.LeaseKey])));
        await worker.StopAsync();
        Assert.True(warnings.Warnings.IsEmpty, string.Join(Environment.NewLine, warnings.Warnings));
    }

    /// <summary>
    /// Puts records for 20 keys in batches, reshards in the middle, waits until everything was handled, and checks: nothing
    /// lost, per-key order within and across the reshard, and the children's first record handled within
    /// <see cref="ChildStartBound"/> of the last parent's <c>SHARD_END</c> checkpoint.
    /// </summary>
    private async Task RunUnderLoadAsync(KinesisTestStream stream, Func<Task> reshard, IReadOnlyList<string> parents, string table, KinesisWorker worker)
    {
        Task<long>[] shardEnds = [.. parents.Select(parent => LeaseOperationsSupport.WaitForShardEndAsync(emulators, table, parent, TimeSpan.FromSeconds(60)))];
        for (int batch = 0; batch < 10; batch++)
        {
            await stream.PutAsync(Enumerable.Range(0, 20).Select(i => $"key-{i}"));
            await Task.Delay(100);
        }

        await reshard();
        for (int batch = 0; batch < 20; batch++)
        {
            await stream.PutAsync(Enumerable.Range(0, 20).Select(i => $"key-{i}"));
            await Task.Delay(100);
        }

        long parentsEnded = (await Task.WhenAll(shardEnds)).Max();
        await WaitUntilAsync(() => worker.Handler.Successes.Select(c => InvariantChecker.Id(c.Record)).Distinct().Count() == stream.Put.Count, TimeSpan.FromSeconds(30),
            () => $"{worker.Handler.Successes.Select(c => InvariantChecker.Id(c.Record)).Distinct().Count()} of {stream.Put.Count} handled ({stream.Put.Count(r => !parents.Contains(r.ShardId))} put to the children)");

        InvariantChecker.Report report = InvariantChecker.Check(stream.Put, worker.Handler, []);
        Dictionary<string, int> generation = stream.Put.Select(r => r.ShardId).Distinct().ToDictionary(shard => shard, shard => parents.Contains(shard) ? 0 : 1);
        LeaseOperationsSupport.AssertKeyOrderAcrossShards(worker.Handler.Calls, generation);
        long firstChild = worker.Handler.Calls.Where(c => generation[c.Record.ShardId] == 1).Min(c => c.StartedTicks);
        TimeSpan childWait = Stopwatch.GetElapsedTime(parentsEnded, firstChild);
        output.WriteLine($"children first handled {childWait.TotalSeconds:F2} s after the parents' SHARD_END; records {report.Records} ({stream.Put.Count(r => generation[r.ShardId] == 1)} in the children), duplicates {report.Duplicates}, lost 0");
        Assert.True(childWait < ChildStartBound, $"the children started {childWait} after their parents' SHARD_END");
    }

    [Theory]
    [InlineData(KinesisReadMode.Polling)]
    [InlineData(KinesisReadMode.EnhancedFanOut)]
    public async Task A_kcl_lease_table_taken_over_mid_split_finishes_the_parent_before_any_child_record(KinesisReadMode readMode)
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("kcl"), 1);
        string parent = (await stream.Client.ListAllShardsAsync(stream.Name)).Single().ShardId;
        await stream.PutAsync(Enumerable.Range(0, 80).Select(i => $"key-{i % 8}"));
        await stream.Client.SplitShardAsync(stream.Name, parent, MiddleHashKey);
        await stream.Client.WaitForStreamActiveAsync(stream.Name);
        await stream.PutAsync(Enumerable.Range(0, 80).Select(i => $"key-{i % 8}"));
        IReadOnlyList<KinesisShard> children = [.. (await stream.Client.ListAllShardsAsync(stream.Name)).Where(s => s.ShardId != parent)];

        // The KCL application had handled the parent's first 40 records (checkpoint) when its last worker went away;
        // the children wait, unowned, at TRIM_HORIZON: items exactly as KCL's DynamoDBLeaseSerializer writes them.
        string table = EmulatorFixture.UniqueName("kcl-app");
        StreamRecord checkpointed = stream.Put.Where(r => r.ShardId == parent).OrderBy(r => r.Position).ElementAt(39);
        using (AmazonDynamoDBClient client = emulators.DynamoDb.CreateDynamoDbClient())
        {
            await client.CreateTableAsync(new CreateTableRequest
            {
                TableName = table,
                AttributeDefinitions = [new AttributeDefinition("leaseKey", ScalarAttributeType.S)],
                KeySchema = [new KeySchemaElement("leaseKey", KeyType.HASH)],
                BillingMode = BillingMode.PAY_PER_REQUEST,
            });
            await client.PutItemAsync(table, KclItem(parent, "kcl-worker-7", 93, checkpointed.SequenceNumber, "0", "340282366920938463463374607431768211455", []));
            foreach (KinesisShard child in children)
            {
                await client.PutItemAsync(table, KclItem(child.ShardId, null, 0, "TRIM_HORIZON", child.HashKeyRange.StartingHashKey, child.HashKeyRange.EndingHashKey, [parent]));
            }
        }

        var warnings = new WarningCollector();
        await using KinesisWorker worker = CreateWorker(stream, table, warnings, readMode, "streamlanes-1");
        long started = Stopwatch.GetTimestamp();
        await worker.StartAsync();
        var expected = stream.Put.Where(r => r.ShardId != parent || r.Position > checkpointed.Position).ToList();
        await WaitUntilAsync(() => worker.Handler.Successes.Select(c => InvariantChecker.Id(c.Record)).Distinct().Count() >= expected.Count, TimeSpan.FromSeconds(30),
            () => $"{worker.Handler.Successes.Select(c => InvariantChecker.Id(c.Record)).Distinct().Count()} of {expected.Count} handled");
        TimeSpan took = Stopwatch.GetElapsedTime(started);

        // Nothing before the KCL checkpoint is handled again, nothing after it is lost, and every key's parent records
        // are done before its first child record starts.
        Assert.DoesNotContain(worker.Handler.Calls, c => c.Record.ShardId == parent && c.Record.Position <= checkpointed.Position);
        InvariantChecker.Check(expected, worker.Handler, []);
        Dictionary<string, int> generation = stream.Put.Select(r => r.ShardId).Distinct().ToDictionary(shard => shard, shard => shard == parent ? 0 : 1);
        LeaseOperationsSupport.AssertKeyOrderAcrossShards(worker.Handler.Calls, generation);
        output.WriteLine($"{readMode}: KCL table taken over: {expected.Count} records handled {took.TotalSeconds:F1} s after start (the parent's lease expired first)");
        // In fan-out mode two subscriptions start one after the other (the parent's, then the children's), each waiting
        // for kinesis-mock's first push.
        TimeSpan bound = TimeSpan.FromSeconds(3 + 1 + 8) + (2 * LeaseOperationsSupport.FanOutDelay(readMode));
        Assert.True(took < bound, $"took {took} (bound {bound})");

        IReadOnlyList<Lease> leases = await LeaseOperationsSupport.ReadLeasesAsync(emulators, table);
        Assert.Equal(children.Select(c => c.ShardId).Order(), leases.Single(l => l.LeaseKey == parent).ChildShardIds.Order());
        await worker.StopAsync();
        Assert.True(warnings.Warnings.IsEmpty, string.Join(Environment.NewLine, warnings.Warnings));
    }

    private static Dictionary<string, AttributeValue> KclItem(string key, string? owner, long counter, string checkpoint, string start, string end, List<string> parents)
    {
        var item = new Dictionary<string, AttributeValue>
        {
            ["leaseKey"] = new() { S = key },
            ["leaseCounter"] = new() { N = counter.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            ["ownerSwitchesSinceCheckpoint"] = new() { N = "0" },
            ["checkpoint"] = new() { S = checkpoint },
            ["checkpointSubSequenceNumber"] = new() { N = "0" },
            ["startingHashKey"] = new() { S = start },
            ["endingHashKey"] = new() { S = end },
        };
        if (owner is not null)
        {
            item["leaseOwner"] = new() { S = owner };
        }

        if (parents.Count > 0)
        {
            item["parentShardId"] = new() { SS = parents };
        }

        return item;
    }
}
