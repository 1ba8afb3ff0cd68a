using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamLanes.Checkpointing;
using StreamLanes.Sinks;

namespace StreamLanes.Engine.Tests.Support;

/// <summary>A host running one consumer over an in-memory stream, with in-memory checkpoints and dead letters by default.</summary>
public sealed class ConsumerHarness : IAsyncDisposable
{
    public const string ConsumerName = "orders";

    private readonly string _name;

    private ConsumerHarness(string name, IHost host, InMemoryStream stream, RecordingHandler handler, ICheckpointStore checkpoints, IDeadLetterSink sink)
    {
        _name = name;
        Host = host;
        Stream = stream;
        Handler = handler;
        Checkpoints = checkpoints;
        Sink = sink;
    }

    public IHost Host { get; }

    public InMemoryStream Stream { get; }

    public RecordingHandler Handler { get; }

    public ICheckpointStore Checkpoints { get; }

    public IDeadLetterSink Sink { get; }

    public IStreamConsumer Consumer => Host.Services.GetRequiredKeyedService<IStreamConsumer>(_name);

    /// <summary>The engine itself, for conditions the public status does not show (a reader parked by backpressure).</summary>
    internal StreamConsumerRuntime Runtime => Host.Services.GetRequiredKeyedService<StreamConsumerRuntime>(_name);

    public IReadOnlyCollection<DeadLetterEnvelope> DeadLetters => ((InMemoryDeadLetterSink)Sink).Envelopes;

    public static ConsumerHarness Create(
        InMemoryStream stream,
        RecordingHandler handler,
        Action<StreamConsumerOptions>? configure = null,
        Action<StreamConsumerBuilder>? build = null,
        ICheckpointStore? checkpoints = null,
        IDeadLetterSink? sink = null,
        IDictionary<string, string?>? configuration = null,
        string name = ConsumerName,
        bool fastTestDefaults = true)
    {
        checkpoints ??= new InMemoryCheckpointStore();
        sink ??= new InMemoryDeadLetterSink();
        HostApplicationBuilder builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        if (configuration is not null)
        {
            builder.Configuration.AddInMemoryCollection(configuration);
        }

        builder.Services.AddSingleton(handler);
        StreamConsumerBuilder consumer = builder.Services
            .AddStreamConsumer<RecordingHandler>(name, options =>
            {
                if (!fastTestDefaults)
                {
                    configure?.Invoke(options);
                    return;
                }

                options.CheckpointInterval = TimeSpan.FromMilliseconds(50);
                options.Retry.InitialDelay = TimeSpan.FromMilliseconds(5);
                options.Retry.MaxDelay = TimeSpan.FromMilliseconds(50);
                options.SinkRetry.InitialDelay = TimeSpan.FromMilliseconds(5);
                options.SinkRetry.MaxDelay = TimeSpan.FromMilliseconds(50);
                options.DrainTimeout = TimeSpan.FromSeconds(10);
                configure?.Invoke(options);
            })
            .FromInMemory(stream, batchSize: 100)
            .UseCheckpointStore(checkpoints)
            .UseDeadLetterSink(sink);
        build?.Invoke(consumer);
        return new ConsumerHarness(name, builder.Build(), stream, handler, checkpoints, sink);
    }

    private bool _started;

    public async Task StartAsync()
    {
        await Host.StartAsync();
        _started = true;
    }

    public Task StopAsync() => Host.StopAsync();

    /// <summary>Waits until every record of the stream is complete (handled or dead-lettered) per the consumer's counters.</summary>
    public async Task WaitUntilAsync(Func<StreamConsumerStatus, bool> condition, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        while (!condition(Consumer.GetStatus()))
        {
            if (Consumer.GetStatus().Fault is Exception fault)
            {
                throw new InvalidOperationException("The consumer faulted.", fault);
            }

            try
            {
                await Task.Delay(5, cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Condition not reached in time; status: {Consumer.GetStatus()}");
            }
        }
    }

    public Task WaitForAllCompleteAsync(TimeSpan? timeout = null)
        => WaitUntilAsync(status => status.Handled + status.DeadLettered >= Stream.Count && status.Buffered == 0, timeout);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_started)
            {
                await Host.StopAsync();
            }
        }
        finally
        {
            Host.Dispose();
        }
    }
}
