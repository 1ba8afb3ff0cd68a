using System.Diagnostics;
using Amazon.DynamoDBv2;
using Microsoft.Extensions.Logging.Abstractions;
using StreamLanes.Checkpointing;
using StreamLanes.TestInfrastructure;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Leases;

/// <summary>A worker restarted with the same <c>WorkerId</c> (a pod or host name), at the coordinator's level.</summary>
[Collection(EmulatorCollections.DynamoDb)]
public sealed class LeaseRestartTests(DynamoDbEmulatorFixture dynamoDb)
{
    private static readonly TimeSpan Failover = TimeSpan.FromSeconds(1.5);
    private static readonly IReadOnlyList<ShardDescriptor> Shards = [.. Enumerable.Range(0, 3).Select(i => new ShardDescriptor($"shard-{i}", []))];

    private static LeaseCoordinator Create(IAmazonDynamoDB client, string table, string workerId, ILeaseListener listener)
        => new(new DynamoDbLeaseTable(client, table), new DynamoDbLeaseOptions { TableName = table, WorkerId = workerId, FailoverTime = Failover },
            _ => Task.FromResult(Shards), Lease.TrimHorizon, listener, TimeProvider.System, NullLogger.Instance);

    [Fact]
    public async Task A_worker_restarted_after_a_crash_with_the_same_id_resumes_its_leases_within_failover_plus_a_renew_interval()
    {
        using AmazonDynamoDBClient client = dynamoDb.CreateDynamoDbClient();
        string table = EmulatorFixture.UniqueName("leases");
        var firstRun = new RecordingLeaseListener();
        LeaseCoordinator first = Create(client, table, "pod-0", firstRun);
        await first.StartAsync(default);
        Assert.Equal(3, first.HeldShardIds.Count);
        HeldLease stale = firstRun.Acquired.First().Lease;

        // A crash: the run stops renewing and releases nothing; the table still names "pod-0" as every lease's owner.
        await first.DisposeAsync();
        var secondRun = new RecordingLeaseListener();
        await using LeaseCoordinator second = Create(client, table, "pod-0", secondRun);
        long started = Stopwatch.GetTimestamp();
        await second.StartAsync(default);

        // Taken back at once (the counter bump fences the earlier run), read one failover time later.
        Assert.Equal(3, second.HeldShardIds.Count);
        await WaitUntilAsync(() => secondRun.Acquired.Count == 3, Failover * 4, () => $"{secondRun.Acquired.Count} of 3 started");
        TimeSpan resumed = Stopwatch.GetElapsedTime(started, secondRun.Acquired.Max(a => a.At));
        // The earlier run stops at the latest two thirds of the failover time after its last renewal, which came
        // before the take: no shard may start before that. (The coordinator waits a whole failover time; on a slow
        // machine this run may itself stall, give a lease up and take it back sooner, still after that bound.)
        Assert.True(resumed >= Failover - (Failover / 3), $"started after {resumed}, before the earlier run could have stopped");
        Assert.True(resumed < Failover + (Failover / 3) + TimeSpan.FromSeconds(1.5), $"resumed after {resumed}");

        foreach (Lease lease in await new DynamoDbLeaseTable(client, table).ListAsync(default))
        {
            Assert.Equal("pod-0", lease.Owner);
            Assert.Equal(second.Incarnation, lease.OwnerIncarnation);
        }

        // The earlier run's view is stale: its checkpoint is refused.
        await Assert.ThrowsAsync<CheckpointFencedException>(async () => await stale.SaveAsync(SequenceNumber.FromInteger(7), default));
        await second.ReleaseAllAsync(default);
    }

    [Fact]
    public async Task An_earlier_run_still_alive_under_the_same_id_is_fenced_and_stops_before_the_new_run_starts()
    {
        using AmazonDynamoDBClient client = dynamoDb.CreateDynamoDbClient();
        string table = EmulatorFixture.UniqueName("leases");
        var oldRun = new RecordingLeaseListener();
        await using LeaseCoordinator old = Create(client, table, "pod-0", oldRun);
        await old.StartAsync(default);
        Assert.Equal(3, old.HeldShardIds.Count);

        var newRun = new RecordingLeaseListener();
        await using LeaseCoordinator @new = Create(client, table, "pod-0", newRun);
        await @new.StartAsync(default);
        Assert.Equal(3, @new.HeldShardIds.Count);

        // The old run loses every lease at its next renewal and never takes them back; the new run starts each shard
        // only after the old run stopped it.
        await WaitUntilAsync(() => oldRun.Lost.Count == 3 && newRun.Acquired.Count == 3, Failover * 4, () => $"old lost {oldRun.Lost.Count}, new started {newRun.Acquired.Count}");
        foreach ((HeldLease lease, long startedAt) in newRun.Acquired)
        {
            long stoppedAt = oldRun.Lost.Single(lost => lost.Lease.ShardId == lease.ShardId).At;
            Assert.True(stoppedAt < startedAt, $"{lease.ShardId}: the new run started before the old one stopped");
        }

        await @new.TakeRoundAsync(default);
        await old.TakeRoundAsync(default);
        await old.RenewRoundAsync(default);
        Assert.Empty(old.HeldShardIds);
        Assert.Equal(3, @new.HeldShardIds.Count);
        await Assert.ThrowsAsync<CheckpointFencedException>(async () => await oldRun.Acquired.First().Lease.SaveAsync(SequenceNumber.FromInteger(9), default));
        await @new.ReleaseAllAsync(default);
    }

    [Fact]
    public async Task A_lease_this_run_gave_up_after_a_stall_is_taken_back_at_once()
    {
        using AmazonDynamoDBClient client = dynamoDb.CreateDynamoDbClient();
        string table = EmulatorFixture.UniqueName("leases");
        var clock = new JumpingClock();
        var listener = new RecordingLeaseListener();
        await using var coordinator = new LeaseCoordinator(new DynamoDbLeaseTable(client, table), new DynamoDbLeaseOptions { TableName = table, WorkerId = "pod-0", FailoverTime = Failover },
            _ => Task.FromResult(Shards), Lease.TrimHorizon, listener, clock, NullLogger.Instance);
        await coordinator.StartAsync(default);
        Assert.Equal(3, listener.Acquired.Count);

        // A stall (a long GC pause, a frozen VM) longer than the renewals allow: the run gives its leases up, which
        // leaves them naming its own id, and must take them back itself rather than leave them to nobody.
        clock.Jump(Failover);
        await WaitUntilAsync(() => listener.Lost.Count == 3 && listener.Acquired.Count == 6, TimeSpan.FromSeconds(10), () => $"lost {listener.Lost.Count}, started {listener.Acquired.Count}");
        Assert.Equal(3, coordinator.HeldShardIds.Count);
        Assert.All(await new DynamoDbLeaseTable(client, table).ListAsync(default), lease => Assert.Equal(coordinator.Incarnation, lease.OwnerIncarnation));
        await coordinator.ReleaseAllAsync(default);
    }

    [Fact]
    public async Task A_lease_taken_back_by_a_later_run_of_the_same_id_is_not_resynchronized_as_if_it_were_ours()
    {
        var faults = new FailingHttp();
        using var client = new AmazonDynamoDBClient(EmulatorFixture.TestCredentials, new AmazonDynamoDBConfig
        {
            ServiceURL = dynamoDb.ServiceUrl.ToString(),
            AuthenticationRegion = EmulatorFixture.Region,
            MaxErrorRetry = 0,
            HttpClientFactory = faults,
        });
        var table = new DynamoDbLeaseTable(client, EmulatorFixture.UniqueName("leases"));
        await table.EnsureExistsAsync(create: true, default);
        await table.CreateIfAbsentAsync(new Lease { LeaseKey = "shard-1", Checkpoint = Lease.TrimHorizon }, default);
        var old = new HeldLease(table, await table.TakeAsync((await table.GetAsync("shard-1", default))!, "pod-0", "run-1", default), 0);

        // The old run's checkpoint fails on the network (applied or not, it cannot tell), and meanwhile a new run takes
        // the lease under the same owner id: the counter moved by one, exactly as if the old write had been applied.
        faults.FailNext = true;
        await Assert.ThrowsAnyAsync<Exception>(async () => await old.SaveAsync(SequenceNumber.FromInteger(5), default));
        await table.TakeAsync((await table.GetAsync("shard-1", default))!, "pod-0", "run-2", default);

        await Assert.ThrowsAsync<CheckpointFencedException>(async () => await old.SaveAsync(SequenceNumber.FromInteger(6), default));
        Lease stored = (await table.GetAsync("shard-1", default))!;
        Assert.Equal("run-2", stored.OwnerIncarnation);
        Assert.True(stored.Position.IsNone, $"the old run moved the checkpoint to {stored.Checkpoint}");
    }

    /// <summary>Real timers; a monotonic clock the test can jump forward.</summary>
    private sealed class JumpingClock : TimeProvider
    {
        private long _offset;

        public void Jump(TimeSpan by) => Interlocked.Add(ref _offset, (long)(by.TotalSeconds * TimestampFrequency));

        public override long GetTimestamp() => base.GetTimestamp() + Interlocked.Read(ref _offset);
    }

    /// <summary>Fails the next request before it is sent, as a reset connection would.</summary>
    private sealed class FailingHttp : Amazon.Runtime.HttpClientFactory
    {
        public volatile bool FailNext;

        public override HttpClient CreateHttpClient(Amazon.Runtime.IClientConfig clientConfig) => new(new Handler(this));

        private sealed class Handler(FailingHttp owner) : DelegatingHandler(new HttpClientHandler())
        {
            protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            {
                if (owner.FailNext)
                {
                    owner.FailNext = false;
                    throw new HttpRequestException("connection reset (injected)");
                }

                return base.SendAsync(request, cancellationToken);
            }
        }
    }
}
