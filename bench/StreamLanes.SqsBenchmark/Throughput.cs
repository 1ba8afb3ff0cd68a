// Throughput: the SQS source (no-op handler, deletes batched) against a bare AWSSDK.SQS receive/delete-batch loop with
// the same number of concurrent receivers, on the same endpoint, alternating rounds; each round fills a fresh standard
// queue with the same number of messages first (not timed) and times from start until every message is deleted.
//
//   dotnet run -c Release --project bench/StreamLanes.SqsBenchmark -- --mode throughput [--rounds 3 --messages 3000 --receivers 2]
using System.Diagnostics;
using System.Globalization;
using Amazon.Runtime;
using Amazon.SQS;
using Amazon.SQS.Model;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamLanes;
using StreamLanes.Sinks;

internal static class ThroughputBenchmark
{
    private static readonly BasicAWSCredentials Credentials = new("test", "test");

    public static async Task RunAsync(Uri url, int rounds, int messages, int receivers)
    {
        var config = new AmazonSQSConfig { ServiceURL = url.ToString(), AuthenticationRegion = "us-east-1" };
        var bare = new List<double>();
        var lanes = new List<double>();

        // A warm-up round of each, not counted: JIT, connection pools, fauxqs' own warm-up.
        await BareRoundAsync(config, Math.Min(messages, 500), receivers);
        await LanesRoundAsync(config, Math.Min(messages, 500), receivers);
        for (int round = 1; round <= rounds; round++)
        {
            bare.Add(await BareRoundAsync(config, messages, receivers));
            lanes.Add(await LanesRoundAsync(config, messages, receivers));
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round}: bare {bare[^1]:F0} msg/s, StreamLanes {lanes[^1]:F0} msg/s"));
        }

        double bareMedian = Median(bare), lanesMedian = Median(lanes);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"SQS standard queue, {messages} messages a round, {receivers} concurrent receivers (10 a receive), {rounds} rounds against {url} (median; min–max)."));
        Console.WriteLine();
        Console.WriteLine("| consumer | messages/s received, handled and deleted |");
        Console.WriteLine("|---|---|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| bare AWSSDK.SQS loop (ReceiveMessage, DeleteMessageBatch) | {bareMedian:F0} ({bare.Min():F0}–{bare.Max():F0}) |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| StreamLanes SQS source, no-op handler | {lanesMedian:F0} ({lanes.Min():F0}–{lanes.Max():F0}) |"));
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"StreamLanes / bare: {lanesMedian / bareMedian:P0} (median of per-round ratios: {Median(bare.Zip(lanes, (b, l) => l / b)):P0})"));
    }

    private static double Median(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static async Task<string> FillAsync(IAmazonSQS sqs, string prefix, int messages)
    {
        string queue = (await sqs.CreateQueueAsync(new CreateQueueRequest { QueueName = $"{prefix}-{Guid.NewGuid():N}"[..40] })).QueueUrl;
        int next = 0;
        await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            int start;
            while ((start = Interlocked.Add(ref next, 10) - 10) < messages)
            {
                var entries = Enumerable.Range(start, Math.Min(10, messages - start))
                    .Select(i => new SendMessageBatchRequestEntry { Id = (i - start).ToString(CultureInfo.InvariantCulture), MessageBody = $"{{\"order\":{i},\"pad\":\"{new string('x', 100)}\"}}" })
                    .ToList();
                var response = await sqs.SendMessageBatchAsync(new SendMessageBatchRequest { QueueUrl = queue, Entries = entries });
                if (response.Failed is { Count: > 0 })
                {
                    throw new InvalidOperationException($"fill failed: {response.Failed[0].Code}");
                }
            }
        }));
        return queue;
    }

    // What a user writes by hand: N loops of receive 10, delete those 10 in one batch.
    private static async Task<double> BareRoundAsync(AmazonSQSConfig config, int messages, int receivers)
    {
        using var sqs = new AmazonSQSClient(Credentials, config);
        string queue = await FillAsync(sqs, "bench-bare", messages);
        int deleted = 0;
        long end = 0;
        long start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, receivers).Select(async _ =>
        {
            while (Volatile.Read(ref deleted) < messages)
            {
                var received = await sqs.ReceiveMessageAsync(new ReceiveMessageRequest { QueueUrl = queue, MaxNumberOfMessages = 10, WaitTimeSeconds = 1, MessageSystemAttributeNames = ["All"], MessageAttributeNames = ["All"] });
                if (received.Messages is not { Count: > 0 } batch)
                {
                    continue;
                }

                var response = await sqs.DeleteMessageBatchAsync(new DeleteMessageBatchRequest
                {
                    QueueUrl = queue,
                    Entries = [.. batch.Select((m, i) => new DeleteMessageBatchRequestEntry { Id = i.ToString(CultureInfo.InvariantCulture), ReceiptHandle = m.ReceiptHandle })],
                });
                if (Interlocked.Add(ref deleted, response.Successful?.Count ?? 0) >= messages)
                {
                    // The other receivers may sit in a long poll on the now empty queue: that is not work.
                    end = Stopwatch.GetTimestamp();
                }
            }
        }));
        double seconds = Stopwatch.GetElapsedTime(start, end).TotalSeconds;
        await sqs.DeleteQueueAsync(queue);
        return messages / seconds;
    }

    private static async Task<double> LanesRoundAsync(AmazonSQSConfig config, int messages, int receivers)
    {
        // The user's client from DI, counting what the source deletes: the round ends when every message is gone.
        using var sqs = new CountingSqsClient(Credentials, config);
        string queue = await FillAsync(sqs, "bench-lanes", messages);
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton<IAmazonSQS>(sqs);
        builder.Services.AddSingleton<NoOpHandler>();
        builder.Services
            .AddStreamConsumer<NoOpHandler>("bench", options => options.DataDirectory = Path.Combine(Path.GetTempPath(), "streamlanes-sqs-bench"))
            .FromSqs(queue, options =>
            {
                options.Receivers = receivers;
                options.WaitTime = TimeSpan.FromSeconds(1);
            })
            .UseDeadLetterSink(new InMemoryDeadLetterSink());
        using IHost host = builder.Build();
        long start = Stopwatch.GetTimestamp();
        await host.StartAsync();
        await sqs.AllDeleted(messages).WaitAsync(TimeSpan.FromMinutes(5));
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        await host.StopAsync();
        await sqs.DeleteQueueAsync(queue);
        return messages / seconds;
    }

    private sealed class NoOpHandler : IStreamHandler<string>
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public ValueTask HandleAsync(string message, HandlerContext context)
        {
            Interlocked.Increment(ref _count);
            return ValueTask.CompletedTask;
        }
    }

    private sealed class CountingSqsClient(AWSCredentials credentials, AmazonSQSConfig config) : AmazonSQSClient(credentials, config)
    {
        private readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _target = int.MaxValue;
        private int _deleted;

        public int Deleted => Volatile.Read(ref _deleted);

        public Task AllDeleted(int target)
        {
            Volatile.Write(ref _target, target);
            if (Volatile.Read(ref _deleted) >= target)
            {
                _all.TrySetResult();
            }

            return _all.Task;
        }

        public override async Task<DeleteMessageBatchResponse> DeleteMessageBatchAsync(DeleteMessageBatchRequest request, CancellationToken cancellationToken = default)
        {
            var response = await base.DeleteMessageBatchAsync(request, cancellationToken).ConfigureAwait(false);
            if (Interlocked.Add(ref _deleted, response.Successful?.Count ?? 0) >= Volatile.Read(ref _target))
            {
                _all.TrySetResult();
            }

            return response;
        }
    }
}
