using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using StreamLanes;
using StreamLanes.Samples.Worker;
using StreamLanes.Sinks;

// The StreamLanes demo on embedded defaults: an in-memory stream, file checkpoints and a JSON-lines dead-letter file.
// One customer's orders always fail; watch every other customer's orders flow while that key retries.
const int Shards = 4;
const int Customers = 500;
const int Records = 20_000;
const int RecordsPerSecond = 2_000;

HostApplicationBuilder builder = Host.CreateApplicationBuilder(args);
var stream = new InMemoryStream("orders-stream", Shards);
var timeline = new DemoTimeline();
builder.Services.AddSingleton(timeline);
builder.Services.AddStreamConsumer<OrderHandler>("orders").FromInMemory(stream);

using IHost host = builder.Build();
StreamConsumerOptions options = host.Services.GetRequiredService<IOptionsMonitor<StreamConsumerOptions>>().Get("orders");

// The in-memory stream is new on every run, so checkpoints of an earlier run would point past its records.
if (Directory.Exists(options.DataDirectory))
{
    Directory.Delete(options.DataDirectory, recursive: true);
}

Console.WriteLine($"StreamLanes demo: {Records:N0} orders from {Customers} customers over {Shards} shards, {RecordsPerSecond:N0}/s.");
Console.WriteLine($"Orders of {OrderHandler.PoisonCustomer} always fail: {options.MaxAttempts} attempts, back-off from {options.Retry.InitialDelay.TotalMilliseconds:N0} ms, then dead-lettered.");
Console.WriteLine();

await host.StartAsync();
IStreamConsumer consumer = host.Services.GetRequiredKeyedService<IStreamConsumer>("orders");
double producerEnd = double.NaN;
Task producer = Task.Run(async () =>
{
    var random = new Random(42);
    using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
    int perTick = RecordsPerSecond / 20;
    for (int i = 0; i < Records;)
    {
        await tick.WaitForNextTickAsync();
        for (int n = 0; n < perTick && i < Records; n++, i++)
        {
            // Three of the poison customer's orders, early on; everyone else at random.
            string customer = i is 1_000 or 1_500 or 2_000 ? OrderHandler.PoisonCustomer : $"customer-{random.Next(Customers):D4}";
            byte[] payload = JsonSerializer.SerializeToUtf8Bytes(new OrderPlaced(i, customer, Math.Round((decimal)random.NextDouble() * 100, 2)), JsonSerializerOptions.Web);
            stream.Put(customer, payload);
        }
    }

    producerEnd = timeline.Elapsed.TotalSeconds;
});

long lastHandled = 0;
while (true)
{
    await Task.Delay(1000);
    StreamConsumerStatus status = consumer.GetStatus();
    long done = status.Handled + status.DeadLettered;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"[{timeline.Elapsed:mm\\:ss}] handled {status.Handled,6:N0}  {status.Handled - lastHandled,5:N0} rec/s  lanes {status.ActiveLanes,3}  blocked {status.BlockedLanes}  retries {status.Retried,2}  dead letters {status.DeadLettered}  buffered {status.Buffered,4}  checkpoint lag {status.CheckpointLag,5:N0}"));
    lastHandled = status.Handled;
    if (producer.IsCompleted && done >= Records && status.Buffered == 0)
    {
        break;
    }
}

await host.StopAsync();
StreamConsumerStatus final = consumer.GetStatus();
string deadLetterFile = Path.GetFullPath(Path.Combine(options.DataDirectory, "dead-letters", "orders.jsonl"));
IReadOnlyList<DeadLetterEnvelope> letters = await JsonLinesDeadLetterSink.ReadAllAsync(deadLetterFile);
(double from, double to) = timeline.PoisonWindow;
int duringRetries = timeline.HandledBetween(from, to);

// Throughput while the poison key retried *and* orders were still arriving: compare it with the production rate.
double busyTo = Math.Min(to, producerEnd);
double rateWhileRetrying = timeline.HandledBetween(from, busyTo) / Math.Max(0.001, busyTo - from);

Console.WriteLine();
Console.WriteLine("Summary");
Console.WriteLine($"  orders produced             {Records:N0}");
Console.WriteLine($"  handled                     {final.Handled:N0}");
Console.WriteLine($"  dead-lettered               {final.DeadLettered:N0} (all of {OrderHandler.PoisonCustomer}: {letters.All(l => l.PartitionKey == OrderHandler.PoisonCustomer)})");
Console.WriteLine($"  retries                     {final.Retried:N0}");
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"  while the poison key retried ({from:F1}s to {to:F1}s), other customers' orders kept flowing: {duringRetries:N0} handled, {rateWhileRetrying:N0}/s while orders arrived at {RecordsPerSecond:N0}/s"));
Console.WriteLine($"  nothing lost                {final.Handled + final.DeadLettered == Records}");
Console.WriteLine($"  dead letters (JSON lines)   {deadLetterFile}");
Console.WriteLine($"  checkpoints                 {Path.GetFullPath(Path.Combine(options.DataDirectory, "checkpoints"))}");
if (letters.Count > 0)
{
    DeadLetterEnvelope first = letters[0];
    Console.WriteLine($"  first dead letter           {first.Shard}/{first.SequenceNumber} key {first.PartitionKey}: {first.Reason} after {first.Attempts.Count} attempts, last error \"{first.Attempts[^1].Message}\"");
    Console.WriteLine($"                              payload {System.Text.Encoding.UTF8.GetString(first.Payload.Span)}");
}

return final.Handled + final.DeadLettered == Records ? 0 : 1;
