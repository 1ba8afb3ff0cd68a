using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using StreamLanes.Benchmarks.Harness;
using StreamLanes.Benchmarks.Support;

namespace StreamLanes.Benchmarks.Profiling;

/// <summary>
/// Which types the engine allocates on its hot path: runs the whole-engine throughput loop (no-op handler, or with
/// <c>--handler yield</c> one that completes asynchronously) under an
/// in-process listener of the runtime's GC AllocationTick events (one sample per ~100 KB allocated, with the type that
/// crossed the threshold) and prints the sampled types. No external profiler needed.
/// </summary>
internal static class AllocationProfile
{
    public static async Task<int> RunAsync(ScenarioArguments args)
    {
        int keys = args.Int("keys", 1_000);
        int batches = args.Int("batches", 10);
        const int perBatch = 200_000;
        int buffer = args.Int("buffer", 10_000);
        bool yielding = args.String("handler", "noop") == "yield";
        void Configure(StreamConsumerOptions options)
        {
            options.MaxBufferedRecordsPerShard = buffer;
            options.MaxBufferedRecords = Math.Max(buffer, options.MaxBufferedRecords);
        }

        await using BenchmarkConsumer consumer = yielding
            ? await BenchmarkConsumer.StartAsync<YieldingHandler>(configure: Configure).ConfigureAwait(false)
            : await BenchmarkConsumer.StartAsync(configure: Configure).ConfigureAwait(false);
        string[] keyNames = RecordBatch.Keys(keys);
        ulong sequence = 1;

        // Warm up: lane pool, tracker pool, tiering.
        for (int i = 0; i < 3; i++)
        {
            await consumer.Source.RunAsync(0, RecordBatch.Build(consumer.Source.StreamName, PrebuiltRecordSource.ShardId(0), keyNames, perBatch, ref sequence)).ConfigureAwait(false);
        }

        var batchesOfRecords = Enumerable.Range(0, batches)
            .Select(_ => RecordBatch.Build(consumer.Source.StreamName, PrebuiltRecordSource.ShardId(0), keyNames, perBatch, ref sequence))
            .ToList();
        GC.Collect();
        using var listener = new AllocationListener();
        long before = GC.GetTotalAllocatedBytes(precise: true);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        foreach (StreamRecord[] records in batchesOfRecords)
        {
            await consumer.Source.RunAsync(0, records).ConfigureAwait(false);
        }

        double seconds = clock.Elapsed.TotalSeconds;
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        int total = batches * perBatch;
        Console.WriteLine($"{total:N0} records over {keys:N0} keys in {seconds:F2} s ({total / seconds:N0} records/s); {(double)allocated / total:F1} bytes allocated per record");
        Console.WriteLine("AllocationTick samples (~100 KB each) by type:");
        foreach ((string type, long bytes) in listener.ByType.OrderByDescending(static pair => pair.Value))
        {
            Console.WriteLine($"  {bytes / 1024.0,10:N0} KB  {type}");
        }

        return 0;
    }

    private sealed class AllocationListener : EventListener
    {
        public ConcurrentDictionary<string, long> ByType { get; } = new();

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
            {
                // Keyword 0x1 = GC; AllocationTick is emitted at Verbose level.
                EnableEvents(eventSource, EventLevel.Verbose, (EventKeywords)0x1);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData)
        {
            if (eventData.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) == true && eventData.Payload is { } payload)
            {
                string type = payload[eventData.PayloadNames!.IndexOf("TypeName")]?.ToString() ?? "?";
                long amount = Convert.ToInt64(payload[eventData.PayloadNames!.IndexOf("AllocationAmount64")], System.Globalization.CultureInfo.InvariantCulture);
                ByType.AddOrUpdate(type, amount, (_, sum) => sum + amount);
            }
        }
    }
}
