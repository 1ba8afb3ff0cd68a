using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StreamLanes.Aws;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.IntegrationTests.Operations;

/// <summary>
/// One SQS consumer named "orders" in a host of its own, as one deployment of a service runs it: started, stopped
/// gracefully (the host's stop), then disposed (what the process's exit does to whatever is still running).
/// </summary>
public sealed class SqsService : IAsyncDisposable
{
    private readonly IHost _host;
    private bool _started;
    private bool _stopped;

    private SqsService(IHost host, RecordingHandler handler)
    {
        _host = host;
        Handler = handler;
    }

    public RecordingHandler Handler { get; }

    public IStreamConsumer Consumer => _host.Services.GetRequiredKeyedService<IStreamConsumer>("orders");

    /// <summary>A consumer of <paramref name="queue"/> whose dead letters go to <paramref name="sink"/>.</summary>
    public static SqsService Create(
        SqsEmulatorFixture sqs,
        string queue,
        Func<IServiceProvider, IDeadLetterSink> sink,
        RecordingHandler handler,
        Action<SqsSourceOptions>? source = null,
        HttpMessageHandler? transport = null)
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(handler);
        if (Environment.GetEnvironmentVariable("STREAMLANES_TEST_LOGS") == "1")
        {
            builder.Services.AddLogging(logging => logging.AddSimpleConsole());
        }

        void Configure(SqsSourceOptions options)
        {
            options.Aws = sqs.CreateClientOptions();
            options.WaitTime = TimeSpan.FromSeconds(1);
            source?.Invoke(options);
        }

        StreamConsumerBuilder consumer = builder.Services
            .AddStreamConsumer<RecordingHandler>("orders", options =>
            {
                options.MaxAttempts = 3;
                options.Retry.InitialDelay = TimeSpan.FromMilliseconds(20);
                options.Retry.MaxDelay = TimeSpan.FromMilliseconds(100);
                options.SinkRetry.InitialDelay = TimeSpan.FromMilliseconds(50);
                options.SinkRetry.MaxDelay = TimeSpan.FromMilliseconds(500);
            });
        if (transport is null)
        {
            consumer.FromSqs(queue, Configure);
        }
        else
        {
            // The same source over an HTTP handler of the test's, between the client and the emulator.
            consumer.FromSource(services =>
            {
                var options = new SqsSourceOptions { Queue = queue };
                Configure(options);
                ILogger logger = services.GetService<ILoggerFactory>()?.CreateLogger("StreamLanes.Consumer.orders.Sqs") ?? NullLogger.Instance;
                return new SqsSource(options, new SqsClient(options.Aws, new HttpClient(transport, disposeHandler: false)), TimeProvider.System, logger);
            });
        }

        consumer.UseDeadLetterSink(sink);
        return new SqsService(builder.Build(), handler);
    }

    public async Task StartAsync()
    {
        await _host.StartAsync();
        _started = true;
    }

    /// <summary>The host's graceful stop (bounded by the host's default 30 s ShutdownTimeout); returns how long it took.</summary>
    public async Task<TimeSpan> StopAsync()
    {
        _stopped = true;
        long started = Stopwatch.GetTimestamp();
        await _host.StopAsync();
        return Stopwatch.GetElapsedTime(started);
    }

    public async ValueTask DisposeAsync()
    {
        if (_started && !_stopped)
        {
            await _host.StopAsync();
        }

        _host.Dispose();
    }
}

/// <summary>Queues, messages and reads for the SQS operations tests.</summary>
internal static class SqsQueues
{
    /// <summary>A new queue whose messages stay hidden for <paramref name="visibilitySeconds"/> once received.</summary>
    public static Task<string> CreateAsync(SqsClient sqs, string prefix, bool fifo, int visibilitySeconds = 60)
    {
        var attributes = new Dictionary<string, string> { [SqsAttributeNames.VisibilityTimeout] = visibilitySeconds.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (fifo)
        {
            attributes[SqsAttributeNames.FifoQueue] = "true";
            attributes[SqsAttributeNames.ContentBasedDeduplication] = "true";
        }

        return sqs.CreateQueueAsync(EmulatorFixture.UniqueName(prefix) + (fifo ? ".fifo" : ""), attributes);
    }

    /// <summary>Sends one message; a FIFO queue's group is <paramref name="key"/>, a standard queue's key the "tenant" attribute.</summary>
    public static async Task<string> SendAsync(SqsClient sqs, string queue, string key, string body, IReadOnlyDictionary<string, SqsMessageAttributeValue>? extra = null)
    {
        var attributes = new Dictionary<string, SqsMessageAttributeValue> { ["tenant"] = new() { DataType = "String", StringValue = key } };
        foreach ((string name, SqsMessageAttributeValue value) in extra ?? new Dictionary<string, SqsMessageAttributeValue>())
        {
            attributes[name] = value;
        }

        SqsSendMessageResponse sent = await sqs.SendMessageAsync(new SqsSendMessageRequest
        {
            QueueUrl = queue,
            MessageBody = body,
            MessageGroupId = queue.EndsWith(".fifo", StringComparison.Ordinal) ? key : null,
            MessageAttributes = attributes,
        });
        return sent.MessageId;
    }

    /// <summary>
    /// Every message left in a queue, in the order SQS delivers them (for a FIFO queue, each group's in order): received
    /// with all attributes and deleted, until two empty receives in a row.
    /// </summary>
    public static async Task<List<SqsMessage>> DrainAsync(SqsClient sqs, string queue)
    {
        var all = new List<SqsMessage>();
        for (int empty = 0; empty < 2;)
        {
            IReadOnlyList<SqsMessage> batch = await sqs.ReceiveMessagesAsync(new SqsReceiveMessageRequest
            {
                QueueUrl = queue,
                MaxNumberOfMessages = 10,
                WaitTimeSeconds = 1,
                VisibilityTimeout = 30,
                MessageAttributeNames = [SqsAttributeNames.All],
                MessageSystemAttributeNames = [SqsAttributeNames.All],
            });
            empty = batch.Count == 0 ? empty + 1 : 0;
            foreach (SqsMessage message in batch)
            {
                all.Add(message);
                await sqs.DeleteMessageAsync(queue, message.ReceiptHandle);
            }
        }

        return all;
    }

    /// <summary>The envelope a dead-letter queue's message holds (inline ones only).</summary>
    public static DeadLetterEnvelope Envelope(SqsMessage message) => DeadLetterEnvelopeSerializer.Deserialize(Encoding.UTF8.GetBytes(message.Body));

    /// <summary>Visible and in-flight messages of a queue.</summary>
    public static async Task<(int Visible, int InFlight)> CountAsync(SqsClient sqs, string queue)
    {
        IReadOnlyDictionary<string, string> attributes = await sqs.GetQueueAttributesAsync(
            queue, [SqsAttributeNames.ApproximateNumberOfMessages, SqsAttributeNames.ApproximateNumberOfMessagesNotVisible]);
        return (int.Parse(attributes[SqsAttributeNames.ApproximateNumberOfMessages], System.Globalization.CultureInfo.InvariantCulture),
            int.Parse(attributes[SqsAttributeNames.ApproximateNumberOfMessagesNotVisible], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>A handler that fails every attempt on a message whose body contains "poison", and succeeds otherwise.</summary>
    public static RecordingHandler PoisonAware() => new()
    {
        Behaviour = static (record, _, _) => Encoding.UTF8.GetString(record.Data.Span).Contains("poison", StringComparison.Ordinal)
            ? ValueTask.FromException(new InvalidOperationException("poison"))
            : ValueTask.CompletedTask,
    };

    public static string Text(ReadOnlyMemory<byte> data) => Encoding.UTF8.GetString(data.Span);
}

/// <summary>Between an SQS client and the emulator: while <see cref="Hang"/> is set, receives never answer (a hung connection).</summary>
public sealed class HangingReceives() : DelegatingHandler(new HttpClientHandler())
{
    private volatile bool _hang;
    private int _hung;

    public bool Hang { get => _hang; set => _hang = value; }

    /// <summary>Receives hanging now.</summary>
    public int Hung => Volatile.Read(ref _hung);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (_hang && request.Headers.TryGetValues("X-Amz-Target", out IEnumerable<string>? target) && target.First().EndsWith(".ReceiveMessage", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _hung);
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            finally
            {
                Interlocked.Decrement(ref _hung);
            }
        }

        return await base.SendAsync(request, cancellationToken);
    }
}
