// Poison message on an SQS FIFO queue: how long until it is dead-lettered, and until the next message of its group
// is handled? StreamLanes (in-process retries, dead letter, delete) against a plain receive/delete loop that relies
// on the queue's redrive policy (maxReceiveCount 3, visibility timeout 5 s). Both against the same SQS endpoint
// (fauxqs by default), one after the other, several rounds each; prints a Markdown table.
//
//   dotnet run -c Release --project bench/StreamLanes.SqsBenchmark [-- --rounds 3 --url http://127.0.0.1:4566]
//
// With --mode throughput: the SQS source's throughput against a bare AWSSDK.SQS loop (see Throughput.cs).
using System.Diagnostics;
using System.Globalization;
using Amazon.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamLanes;
using StreamLanes.Aws;
using StreamLanes.Sinks;

int rounds = 3;
int messages = 3000;
int receivers = 2;
string mode = "poison";
var url = new Uri(Environment.GetEnvironmentVariable("STREAMLANES_SQS_URL") ?? "http://127.0.0.1:4566");
for (int i = 0; i < args.Length - 1; i++)
{
    if (args[i] == "--rounds")
    {
        rounds = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
    }
    else if (args[i] == "--url")
    {
        url = new Uri(args[i + 1]);
    }
    else if (args[i] == "--mode")
    {
        mode = args[i + 1];
    }
    else if (args[i] == "--messages")
    {
        messages = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
    }
    else if (args[i] == "--receivers")
    {
        receivers = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
    }
}

if (mode == "throughput")
{
    await ThroughputBenchmark.RunAsync(url, rounds, messages, receivers);
    return;
}

const int MaxReceiveCount = 3;
const int VisibilityTimeoutSeconds = 5;
var aws = new AwsClientOptions
{
    Region = "us-east-1",
    ServiceUrl = url,
    Credentials = new BasicAWSCredentials("test", "test"),
};
using var sqs = new SqsClient(aws);

var plain = new List<(double DeadLetter, double Next)>();
var lanes = new List<(double DeadLetter, double Next)>();
for (int round = 1; round <= rounds; round++)
{
    lanes.Add(await StreamLanesRoundAsync());
    Console.Error.WriteLine($"round {round}: StreamLanes dead letter {lanes[^1].DeadLetter:F0} ms, next {lanes[^1].Next:F0} ms");
    plain.Add(await PlainLoopRoundAsync());
    Console.Error.WriteLine($"round {round}: plain loop dead letter {plain[^1].DeadLetter:F0} ms, next {plain[^1].Next:F0} ms");
}

static double Median(IEnumerable<double> values)
{
    double[] sorted = [.. values.Order()];
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
}

Console.WriteLine($"SQS FIFO poison message, {rounds} rounds against {url} (median; min–max). Queue: visibility timeout {VisibilityTimeoutSeconds} s, redrive maxReceiveCount {MaxReceiveCount}.");
Console.WriteLine();
Console.WriteLine("| consumer | time to dead-letter the poison message | time until the group's next message is handled |");
Console.WriteLine("|---|---|---|");
foreach ((string name, List<(double DeadLetter, double Next)> results) in new[] { ("plain receive/delete loop + queue redrive policy", plain), ("StreamLanes (MaxAttempts 3, RetryBaseDelay 200 ms, exponential + jitter)", lanes) })
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {name} | {Median(results.Select(r => r.DeadLetter)):F0} ms ({results.Min(r => r.DeadLetter):F0}–{results.Max(r => r.DeadLetter):F0}) | {Median(results.Select(r => r.Next)):F0} ms ({results.Min(r => r.Next):F0}–{results.Max(r => r.Next):F0}) |"));
}

// A FIFO queue with a dead-letter queue; the group "g" holds the poison message then an ordinary one.
async Task<(string Queue, string DeadLetterQueue)> CreateQueuesAsync(string prefix)
{
    string suffix = Guid.NewGuid().ToString("N")[..8];
    var fifo = new Dictionary<string, string> { [SqsAttributeNames.FifoQueue] = "true", [SqsAttributeNames.ContentBasedDeduplication] = "true" };
    string dlq = await sqs.CreateQueueAsync($"{prefix}-dlq-{suffix}.fifo", fifo);
    string arn = (await sqs.GetQueueAttributesAsync(dlq, [SqsAttributeNames.QueueArn]))[SqsAttributeNames.QueueArn];
    string queue = await sqs.CreateQueueAsync($"{prefix}-{suffix}.fifo", new Dictionary<string, string>(fifo)
    {
        [SqsAttributeNames.VisibilityTimeout] = VisibilityTimeoutSeconds.ToString(CultureInfo.InvariantCulture),
        [SqsAttributeNames.RedrivePolicy] = $$"""{"deadLetterTargetArn":"{{arn}}","maxReceiveCount":"{{MaxReceiveCount}}"}""",
    });
    foreach (string body in new[] { "poison", "next" })
    {
        await sqs.SendMessageAsync(new SqsSendMessageRequest { QueueUrl = queue, MessageBody = body, MessageGroupId = "g" });
    }

    return (queue, dlq);
}

// The usual hand-written consumer: receive, handle, delete on success; a failure leaves the message to reappear after
// its visibility timeout, and the queue moves it to the dead-letter queue after maxReceiveCount receives.
async Task<(double DeadLetter, double Next)> PlainLoopRoundAsync()
{
    (string queue, string dlq) = await CreateQueuesAsync("bench-plain");
    long first = 0;
    double deadLetter = 0;
    using var done = new CancellationTokenSource(TimeSpan.FromMinutes(2));
    Task watchDeadLetters = Task.Run(async () =>
    {
        while (deadLetter == 0 && !done.IsCancellationRequested)
        {
            var moved = await sqs.GetQueueAttributesAsync(dlq, [SqsAttributeNames.ApproximateNumberOfMessages]);
            if (moved[SqsAttributeNames.ApproximateNumberOfMessages] != "0" && first != 0)
            {
                deadLetter = Stopwatch.GetElapsedTime(first).TotalMilliseconds;
            }

            await Task.Delay(20);
        }
    });
    while (true)
    {
        IReadOnlyList<SqsMessage> messages = await sqs.ReceiveMessagesAsync(new SqsReceiveMessageRequest { QueueUrl = queue, MaxNumberOfMessages = 10, WaitTimeSeconds = 1 }, done.Token);
        foreach (SqsMessage message in messages)
        {
            if (message.Body == "poison")
            {
                if (first == 0)
                {
                    first = Stopwatch.GetTimestamp();
                }

                continue; // the handler failed: no delete
            }

            double next = Stopwatch.GetElapsedTime(first).TotalMilliseconds;
            await sqs.DeleteMessageAsync(queue, message.ReceiptHandle);
            await watchDeadLetters;
            return (deadLetter, next);
        }
    }
}

async Task<(double DeadLetter, double Next)> StreamLanesRoundAsync()
{
    (string queue, _) = await CreateQueuesAsync("bench-lanes");
    var handler = new TimingHandler();
    var sink = new InMemoryDeadLetterSink();
    HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
    builder.Services.AddSingleton(handler);
    builder.Services
        .AddStreamConsumer<TimingHandler>("bench", options =>
        {
            options.MaxAttempts = MaxReceiveCount;
            options.DataDirectory = Path.Combine(Path.GetTempPath(), "streamlanes-sqs-bench");
        })
        .FromSqs(queue, options => options.Aws = aws)
        .UseDeadLetterSink(sink);
    using IHost host = builder.Build();
    await host.StartAsync();
    while (handler.NextHandled == 0)
    {
        await Task.Delay(5);
    }

    await host.StopAsync();
    DeadLetterEnvelope letter = sink.Envelopes.Single();
    double deadLetter = (letter.DeadLetteredAt - letter.Attempts[0].StartedAt).TotalMilliseconds;
    return (deadLetter, Stopwatch.GetElapsedTime(handler.FirstAttempt, handler.NextHandled).TotalMilliseconds);
}

internal sealed class TimingHandler : IStreamHandler<string>
{
    public long FirstAttempt { get; private set; }

    public long NextHandled { get; private set; }

    public ValueTask HandleAsync(string message, HandlerContext context)
    {
        if (message == "poison")
        {
            if (FirstAttempt == 0)
            {
                FirstAttempt = Stopwatch.GetTimestamp();
            }

            throw new InvalidOperationException("poison");
        }

        NextHandled = Stopwatch.GetTimestamp();
        return ValueTask.CompletedTask;
    }
}
