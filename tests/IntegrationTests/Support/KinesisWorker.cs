using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;

namespace StreamLanes.IntegrationTests.Support;

/// <summary>One worker: a host with one Kinesis consumer, as a separate process would run it.</summary>
public sealed class KinesisWorker : IAsyncDisposable
{
    private bool _started;
    private bool _stopped;

    private KinesisWorker(string id, IHost host, RecordingHandler handler, InMemoryDeadLetterSink deadLetters)
    {
        Id = id;
        Host = host;
        Handler = handler;
        DeadLetters = deadLetters;
    }

    public string Id { get; }

    public IHost Host { get; }

    public RecordingHandler Handler { get; }

    public InMemoryDeadLetterSink DeadLetters { get; }

    public IStreamConsumer Consumer => Host.Services.GetRequiredKeyedService<IStreamConsumer>("orders");

    public static KinesisWorker Create(
        KinesisAndDynamoDbFixture emulators,
        string stream,
        string leaseTable,
        string id,
        Action<StreamConsumerOptions>? configure = null,
        Action<KinesisSourceOptions>? kinesis = null,
        Action<StreamConsumerBuilder>? build = null,
        RecordingHandler? handler = null)
    {
        handler ??= new RecordingHandler();
        var deadLetters = new InMemoryDeadLetterSink();
        HostApplicationBuilder builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(handler);
        StreamConsumerBuilder consumer = builder.Services
            .AddStreamConsumer<RecordingHandler>("orders", options =>
            {
                options.CheckpointInterval = TimeSpan.FromMilliseconds(200);
                options.RetryBaseDelay = TimeSpan.FromMilliseconds(10);
                options.RetryMaxDelay = TimeSpan.FromMilliseconds(100);
                options.DrainTimeout = TimeSpan.FromSeconds(10);
                configure?.Invoke(options);
            })
            .FromKinesis(stream, options =>
            {
                options.Aws = emulators.Kinesis.CreateClientOptions();
                options.DynamoDbServiceUrl = emulators.DynamoDb.ServiceUrl;
                options.Leases.TableName = leaseTable;
                options.Leases.WorkerId = id;
                options.Leases.FailoverTime = TimeSpan.FromSeconds(3);
                options.Leases.ShardSyncInterval = TimeSpan.FromSeconds(2);
                options.IdleTimeBetweenReads = TimeSpan.FromMilliseconds(100);
                options.MinTimeBetweenReads = TimeSpan.FromMilliseconds(20);
                kinesis?.Invoke(options);
            })
            .UseDeadLetterSink(deadLetters);
        build?.Invoke(consumer);
        return new KinesisWorker(id, builder.Build(), handler, deadLetters);
    }

    public async Task StartAsync()
    {
        await Host.StartAsync();
        _started = true;
    }

    /// <summary>A graceful stop: drain, final checkpoint, release the leases.</summary>
    public async Task StopAsync()
    {
        _stopped = true;
        await Host.StopAsync();
    }

    /// <summary>An abrupt stop: no drain, no final checkpoint, no lease release (in-process stand-in for SIGKILL).</summary>
    public void Crash()
    {
        _stopped = true;
        Host.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        if (_started && !_stopped)
        {
            await Host.StopAsync();
        }

        Host.Dispose();
    }
}
