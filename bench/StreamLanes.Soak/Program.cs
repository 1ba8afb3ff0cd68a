using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamLanes;
using StreamLanes.Checkpointing;
using StreamLanes.Sinks;

// The soak run: a steady stream with random transient failures and poison keys for a long time, on the embedded
// defaults (file checkpoints, JSON-lines dead letters). Samples memory and buffered records; fails (exit 1) when
// anything is lost, a key's order breaks, or memory keeps growing.
//   dotnet run -c Release --project bench/StreamLanes.Soak -- [--minutes 10] [--rate 5000] [--report bench/soak.md]
double minutes = 10;
int rate = 5000;
string? reportPath = null;
for (int i = 0; i < args.Length - 1; i += 2)
{
    switch (args[i])
    {
        case "--minutes": minutes = double.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--rate": rate = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--report": reportPath = args[i + 1]; break;
        default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
    }
}

string data = Directory.CreateTempSubdirectory("streamlanes-soak-").FullName;
// Retention bounds the stream itself, so the heap measures the engine, not the records kept for replay.
var stream = new InMemoryStream("soak", shardCount: 4, retainedRecordsPerShard: 50_000);
var state = new SoakState();
HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
builder.Services.AddSingleton(state);
builder.Services.AddStreamConsumer<SoakHandler>("soak", options =>
{
    options.DataDirectory = data;
    options.MaxAttempts = 4;
    options.Retry.InitialDelay = TimeSpan.FromMilliseconds(50);
    options.Retry.MaxDelay = TimeSpan.FromMilliseconds(500);
    options.CheckpointInterval = TimeSpan.FromSeconds(1);
    options.MaxConcurrentHandlers = 128;
}).FromInMemory(stream);
using IHost host = builder.Build();
await host.StartAsync();
IStreamConsumer consumer = host.Services.GetRequiredKeyedService<IStreamConsumer>("soak");

var duration = TimeSpan.FromMinutes(minutes);
var clock = Stopwatch.StartNew();
long produced = 0;
var producer = Task.Run(async () =>
{
    var random = new Random(1);
    using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
    while (clock.Elapsed < duration && await tick.WaitForNextTickAsync())
    {
        long due = (long)(clock.Elapsed.TotalSeconds * rate);
        for (; produced < due; produced++)
        {
            string key = produced % 10_000 == 5_000 ? "poison" : $"key-{random.Next(2_000)}";
            stream.Put(key, Encoding.UTF8.GetBytes($"{{\"n\":{produced}}}"));
        }
    }
});

var samples = new List<(TimeSpan At, long Handled, long DeadLettered, int Buffered, int Lanes, long Heap, long WorkingSet)>();
long lastHandled = 0;
while (!producer.IsCompleted)
{
    await Task.WhenAny(producer, Task.Delay(TimeSpan.FromSeconds(10)));
    StreamConsumerStatus status = consumer.GetStatus();
    long heap = GC.GetTotalMemory(forceFullCollection: true);
    samples.Add((clock.Elapsed, status.Handled, status.DeadLettered, status.Buffered, status.ActiveLanes, heap, Environment.WorkingSet));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"[{clock.Elapsed:mm\\:ss}] handled {status.Handled,9:N0} ({(status.Handled - lastHandled) / 10.0,7:N0}/s) dead letters {status.DeadLettered,4} retries {status.Retried,6:N0} buffered {status.Buffered,5} lanes {status.ActiveLanes,5} heap {heap / 1048576.0,6:F1} MB working set {Environment.WorkingSet / 1048576.0,6:F1} MB"));
    lastHandled = status.Handled;
}

using (var drained = new CancellationTokenSource(TimeSpan.FromMinutes(1)))
{
    while (consumer.GetStatus() is { } s && s.Handled + s.DeadLettered < produced)
    {
        await Task.Delay(100, drained.Token);
    }
}

await host.StopAsync();
StreamConsumerStatus final = consumer.GetStatus();
IReadOnlyList<DeadLetterEnvelope> letters = await JsonLinesDeadLetterSink.ReadAllAsync(Path.Combine(data, "dead-letters", "soak.jsonl"));
long lost = produced - final.Handled - final.DeadLettered;

// Flat memory: the heap over the last third of the run may not exceed the middle third's by more than 10 MB.
int third = Math.Max(1, samples.Count / 3);
long middle = samples.Skip(third).Take(third).Max(s => s.Heap);
long last = samples.Skip(2 * third).Max(s => s.Heap);
bool flat = last - middle < 10 * 1048576;
int maxBuffered = samples.Max(s => s.Buffered);

var report = new StringBuilder();
report.AppendLine(CultureInfo.InvariantCulture, $"Soak run: {minutes} min at {rate:N0} records/s, 4 shards, 2,000 keys, 0.5% transient failures (succeed on retry), a poison key every 10,000 records; file checkpoints, JSON-lines dead letters.");
report.AppendLine();
report.AppendLine("| minute | handled | records/s | buffered | lanes | heap after full GC (MB) | working set (MB) |");
report.AppendLine("|---|---|---|---|---|---|---|");
for (int i = 5; i < samples.Count; i += 6)
{
    var s = samples[i];
    var previous = samples[i - 5];
    report.AppendLine(CultureInfo.InvariantCulture, $"| {s.At.TotalMinutes:F0} | {s.Handled:N0} | {(s.Handled - previous.Handled) / (s.At - previous.At).TotalSeconds:N0} | {s.Buffered} | {s.Lanes} | {s.Heap / 1048576.0:F1} | {s.WorkingSet / 1048576.0:F1} |");
}

report.AppendLine();
report.AppendLine(CultureInfo.InvariantCulture, $"Produced {produced:N0}; handled {final.Handled:N0}; dead-lettered {final.DeadLettered:N0} (file: {letters.Count:N0}, all of key poison: {letters.All(l => l.PartitionKey == "poison")}); lost {lost}; per-key order violations {state.OrderViolations}; retries {final.Retried:N0}.");
report.AppendLine(CultureInfo.InvariantCulture, $"Peak buffered records {maxBuffered:N0}; heap, middle third max {middle / 1048576.0:F1} MB vs last third max {last / 1048576.0:F1} MB: {(flat ? "flat" : "GROWING")}.");
Console.WriteLine();
Console.WriteLine(report);
if (reportPath is not null)
{
    await File.WriteAllTextAsync(reportPath, report.ToString());
}

Directory.Delete(data, recursive: true);
return lost == 0 && state.OrderViolations == 0 && flat && letters.Count == final.DeadLettered ? 0 : 1;

internal sealed class SoakState
{
    private long _orderViolations;

    public ConcurrentDictionary<string, SequenceNumber> LastDone { get; } = new();

    public long OrderViolations => Interlocked.Read(ref _orderViolations);

    public void Done(StreamRecord record)
    {
        string key = record.ShardId + "|" + record.PartitionKey;
        SequenceNumber previous = LastDone.GetValueOrDefault(key);
        if (record.Position <= previous)
        {
            Interlocked.Increment(ref _orderViolations);
        }

        LastDone[key] = record.Position;
    }
}

internal sealed class SoakHandler(SoakState state) : IStreamHandler<ReadOnlyMemory<byte>>
{
    public async ValueTask HandleAsync(ReadOnlyMemory<byte> message, HandlerContext context)
    {
        if (Random.Shared.Next(4) == 0)
        {
            await Task.Delay(1, context.CancellationToken);
        }

        if (context.Record.PartitionKey == "poison" || (context.Attempt == 1 && Random.Shared.Next(200) == 0))
        {
            throw new InvalidOperationException("injected failure");
        }

        state.Done(context.Record);
    }
}
