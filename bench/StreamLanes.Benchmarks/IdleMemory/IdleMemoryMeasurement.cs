using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamLanes.Benchmarks.Harness;
using StreamLanes.Benchmarks.Support;
using StreamLanes.Sinks;

namespace StreamLanes.Benchmarks.IdleMemory;

/// <summary>
/// Memory per idle key: a burst of one record for each of 1,000,000 distinct keys goes through a consumer; once it
/// has drained, the live managed heap is compared with the one before the consumer started, with the consumer still
/// running. Invariant 4 says idle keys cost nothing: what remains is the consumer's fixed cost (shards, trackers'
/// pools grown to the buffer bound, the lane pool), divided here by the number of keys.
/// </summary>
/// <remarks>
/// The records are put into the <see cref="InMemoryStream"/> before the first measurement, and the stream keeps them
/// until after the second, so they cancel out; the difference is what the engine keeps.
/// </remarks>
internal static class IdleMemoryMeasurement
{
    public static async Task<int> RunAsync(ScenarioArguments args)
    {
        int keys = args.Int("keys", 1_000_000);
        int shards = args.Int("shards", 4);
        Console.WriteLine($"idle-memory: {keys:N0} distinct keys, one record each, {shards} shards, no-op handler, default options");

        var stream = new InMemoryStream("idle-memory", shards);
        byte[] payload = new byte[16];
        for (int i = 0; i < keys; i++)
        {
            stream.Put($"key-{i:D7}", payload);
        }

        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services
            .AddStreamConsumer<NoOpHandler>("idle-memory")
            .FromInMemory(stream)
            .UseInMemoryCheckpoints()
            .UseDeadLetterSink(new InMemoryDeadLetterSink());
        using IHost host = builder.Build();
        IStreamConsumer consumer = host.Services.GetRequiredKeyedService<IStreamConsumer>("idle-memory");

        long before = GC.GetTotalMemory(forceFullCollection: true);
        var clock = Stopwatch.StartNew();
        await host.StartAsync();

        int peakLanes = 0;
        long peakHeap = 0;
        StreamConsumerStatus status;
        while (true)
        {
            status = consumer.GetStatus();
            peakLanes = Math.Max(peakLanes, status.ActiveLanes);
            peakHeap = Math.Max(peakHeap, GC.GetTotalMemory(forceFullCollection: false));
            if (status.Handled >= keys && status.Buffered == 0)
            {
                break;
            }

            await Task.Delay(10);
        }

        TimeSpan burst = clock.Elapsed;
        long after = GC.GetTotalMemory(forceFullCollection: true);
        status = consumer.GetStatus();
        double perKey = (double)(after - before) / keys;

        Console.WriteLine();
        Console.WriteLine("| Measure | Value |");
        Console.WriteLine("| --- | --- |");
        Console.WriteLine($"| Keys (one record each) | {keys:N0} |");
        Console.WriteLine($"| Burst drained in | {burst.TotalSeconds:F2} s ({keys / burst.TotalSeconds:N0} records/s) |");
        Console.WriteLine($"| Peak active lanes during the burst | {peakLanes:N0} |");
        Console.WriteLine($"| Peak managed heap during the burst (incl. garbage) | {peakHeap / 1048576.0:F1} MB |");
        Console.WriteLine($"| Live heap before start | {before / 1048576.0:F2} MB |");
        Console.WriteLine($"| Live heap after drain, consumer running | {after / 1048576.0:F2} MB |");
        Console.WriteLine($"| Retained by the consumer | {(after - before) / 1024.0:N0} KB |");
        Console.WriteLine($"| Active lanes after drain | {status.ActiveLanes:N0} |");
        Console.WriteLine($"| **Bytes per idle key** | **{perKey:F2}** (target < 256: {(perKey < 256 ? "met" : "missed")}) |");

        GC.KeepAlive(consumer);
        await host.StopAsync();
        GC.KeepAlive(stream);
        return 0;
    }
}
