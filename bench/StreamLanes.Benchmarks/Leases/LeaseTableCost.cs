using System.Diagnostics;
using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using Microsoft.Extensions.Logging.Abstractions;
using StreamLanes.Checkpointing;
using StreamLanes.DynamoDb;

namespace StreamLanes.Benchmarks.Leases;

/// <summary>
/// The lease table's cost per worker on DynamoDB Local, the leader protocol beside the protocol where every worker
/// scans and takes, same shards, same fleet sizes, same run: read and write units per worker per second, summed from
/// every response's <c>ConsumedCapacity</c> (requested as TOTAL), over a window after the fleet is balanced.
/// </summary>
/// <remarks>
/// <c>leases [--shards 100,1000] [--workers 2,4,8,16] [--failover 3] [--seconds 15] [--dynamodb-url http://127.0.0.1:8000]</c>.
/// The workers are lease coordinators in this process, each with its own DynamoDB client and clock loop, reading no
/// stream (the shard list is synthetic): only the lease protocol's own reads and writes are counted.
/// </remarks>
internal static class LeaseTableCost
{
    public static async Task<int> RunAsync(string[] args)
    {
        int[] shardCounts = List(args, "--shards", [100, 1000]);
        int[] fleetSizes = List(args, "--workers", [2, 4, 8, 16]);
        TimeSpan failover = TimeSpan.FromSeconds(double.Parse(Text(args, "--failover") ?? "3", CultureInfo.InvariantCulture));
        TimeSpan window = TimeSpan.FromSeconds(double.Parse(Text(args, "--seconds") ?? "15", CultureInfo.InvariantCulture));
        var url = new Uri(Text(args, "--dynamodb-url") ?? Environment.GetEnvironmentVariable("STREAMLANES_DYNAMODB_URL") ?? "http://127.0.0.1:8000");
        Console.WriteLine($"failover {failover.TotalSeconds} s (renew every {failover.TotalSeconds / 3:F2} s), window {window.TotalSeconds} s after balance; load average {(File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "?")} ({Environment.ProcessorCount} cores)");
        Console.WriteLine();
        Console.WriteLine("| protocol | shards | workers | read units / worker / s | write units / worker / s | fleet read units / s | balanced after |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (int shards in shardCounts)
        {
            foreach (int workers in fleetSizes)
            {
                foreach (LeaseProtocol protocol in new[] { LeaseProtocol.EveryWorkerTakes, LeaseProtocol.Leader })
                {
                    (double read, double write, TimeSpan? balanced) = await MeasureAsync(url, protocol, shards, workers, failover, window);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"| {(protocol == LeaseProtocol.Leader ? "leader" : "every worker takes")} | {shards:N0} | {workers} | {read:F2} | {write:F2} | {read * workers:F1} | {(balanced is { } took ? $"{took.TotalSeconds:F1} s" : $"not within {BalanceLimit.TotalSeconds:F0} s")} |"));
                }
            }
        }

        return 0;
    }

    private static readonly TimeSpan BalanceLimit = TimeSpan.FromSeconds(90);

    private static async Task<(double Read, double Write, TimeSpan? Balanced)> MeasureAsync(Uri url, LeaseProtocol protocol, int shards, int workers, TimeSpan failover, TimeSpan window)
    {
        string table = $"bench-leases-{Guid.NewGuid():N}"[..28];
        IReadOnlyList<ShardDescriptor> shardList = [.. Enumerable.Range(0, shards).Select(i => new ShardDescriptor($"shardId-{i:D12}", []))];
        var meters = new List<Meter>();
        var coordinators = new List<LeaseCoordinator>();
        using AmazonDynamoDBClient observer = Client(url);
        try
        {
            for (int i = 0; i < workers; i++)
            {
                var meter = new Meter(Client(url));
                meters.Add(meter);
                var coordinator = new LeaseCoordinator(
                    new DynamoDbLeaseTable(meter.Client, table),
                    new DynamoDbLeaseOptions { TableName = table, WorkerId = $"worker-{i}", FailoverTime = failover, Protocol = protocol },
                    _ => Task.FromResult(shardList),
                    Lease.TrimHorizon,
                    new IdleListener(),
                    TimeProvider.System,
                    NullLogger.Instance);
                coordinators.Add(coordinator);
                await coordinator.StartAsync(default);
            }

            var started = Stopwatch.StartNew();
            var leases = new DynamoDbLeaseTable(observer, table);
            while (true)
            {
                IReadOnlyList<Lease> now = await leases.ListAsync(default);
                var counts = Enumerable.Range(0, workers).Select(i => now.Count(l => l.Owner == $"worker-{i}" && l.HandoffTo is null)).ToList();
                if (counts.Sum() == shards && counts.Max() - counts.Min() <= 1)
                {
                    break;
                }

                // Where every worker steals one lease per round, 1,000 leases take many minutes to spread; its read cost
                // does not depend on the spread (every worker scans the whole table), so it is measured unbalanced.
                if (started.Elapsed > BalanceLimit)
                {
                    break;
                }

                await Task.Delay(250);
            }

            TimeSpan? balanced = started.Elapsed > BalanceLimit ? null : started.Elapsed;
            (double read, double write) before = (meters.Sum(m => m.Read), meters.Sum(m => m.Write));
            var measuring = Stopwatch.StartNew();
            await Task.Delay(window);
            double seconds = measuring.Elapsed.TotalSeconds;
            return ((meters.Sum(m => m.Read) - before.read) / workers / seconds, (meters.Sum(m => m.Write) - before.write) / workers / seconds, balanced);
        }
        finally
        {
            foreach (LeaseCoordinator coordinator in coordinators)
            {
                await coordinator.DisposeAsync();
            }

            foreach (Meter meter in meters)
            {
                meter.Client.Dispose();
            }

            await observer.DeleteTableAsync(table);
        }
    }

    private static AmazonDynamoDBClient Client(Uri url)
        => new(new BasicAWSCredentials("bench", "bench"), new AmazonDynamoDBConfig { ServiceURL = url.ToString(), AuthenticationRegion = "us-east-1" });

    private static int[] List(string[] args, string name, int[] fallback)
        => Text(args, name) is { } text ? [.. text.Split(',').Select(part => int.Parse(part, CultureInfo.InvariantCulture))] : fallback;

    private static string? Text(string[] args, string name)
    {
        int index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }

    /// <summary>Sums one client's consumed units; DynamoDB Local reports <c>CapacityUnits</c>, told apart by the request.</summary>
    private sealed class Meter
    {
        private readonly Lock _lock = new();
        private double _read;
        private double _write;

        public Meter(AmazonDynamoDBClient client)
        {
            Client = client;
            client.AfterResponseEvent += (_, e) =>
            {
                AmazonWebServiceResponse? response = (e as WebServiceResponseEventArgs)?.Response;
                (ConsumedCapacity? consumed, bool read) = response switch
                {
                    ScanResponse r => (r.ConsumedCapacity, true),
                    QueryResponse r => (r.ConsumedCapacity, true),
                    GetItemResponse r => (r.ConsumedCapacity, true),
                    PutItemResponse r => (r.ConsumedCapacity, false),
                    UpdateItemResponse r => (r.ConsumedCapacity, false),
                    DeleteItemResponse r => (r.ConsumedCapacity, false),
                    _ => (null, false),
                };
                if (consumed is null)
                {
                    return;
                }

                lock (_lock)
                {
                    _read += consumed.ReadCapacityUnits ?? (read ? consumed.CapacityUnits ?? 0 : 0);
                    _write += consumed.WriteCapacityUnits ?? (read ? 0 : consumed.CapacityUnits ?? 0);
                }
            };
        }

        public AmazonDynamoDBClient Client { get; }

        public double Read
        {
            get
            {
                lock (_lock)
                {
                    return _read;
                }
            }
        }

        public double Write
        {
            get
            {
                lock (_lock)
                {
                    return _write;
                }
            }
        }
    }

    /// <summary>Reads nothing: only the lease protocol's own traffic is measured.</summary>
    private sealed class IdleListener : ILeaseListener
    {
        public Task OnLeaseAcquiredAsync(HeldLease lease, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task OnLeaseLostAsync(HeldLease lease) => Task.CompletedTask;
    }
}
