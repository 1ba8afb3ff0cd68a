using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;

namespace StreamLanes.IntegrationTests.Support;

/// <summary>One worker: a host with one Kinesis consumer, as a separate process would run it.</summary>
public sealed class KinesisWorker : HostedWorker
{
    private KinesisWorker(string id, IHost host, RecordingHandler handler, InMemoryDeadLetterSink deadLetters)
        : base(host, handler, deadLetters)
    {
        Id = id;
    }

    public string Id { get; }

    public static KinesisWorker Create(
        KinesisAndDynamoDbFixture emulators,
        string stream,
        string leaseTable,
        string id,
        Action<StreamConsumerOptions>? configure = null,
        Action<KinesisSourceOptions>? kinesis = null,
        Action<StreamConsumerBuilder>? build = null,
        RecordingHandler? handler = null,
        KinesisReadMode readMode = KinesisReadMode.Polling)
    {
        handler ??= new RecordingHandler();
        var deadLetters = new InMemoryDeadLetterSink();
        HostApplicationBuilder builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(handler);
        StreamConsumerBuilder consumer = builder.Services
            .AddStreamConsumer<RecordingHandler>("orders", options =>
            {
                options.CheckpointInterval = TimeSpan.FromMilliseconds(200);
                options.Retry.InitialDelay = TimeSpan.FromMilliseconds(10);
                options.Retry.MaxDelay = TimeSpan.FromMilliseconds(100);
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
                UseReadMode(options, readMode);
                kinesis?.Invoke(options);
            })
            .UseDeadLetterSink(deadLetters);
        build?.Invoke(consumer);
        return new KinesisWorker(id, builder.Build(), handler, deadLetters);
    }

    /// <summary>
    /// Reads in <paramref name="mode"/>. In fan-out mode the shard-end probe runs every 500 ms instead of 5 s:
    /// kinesis-mock never sends ChildShards on a subscription, so only the probe finds a shard's end, and the default
    /// would spend most of a reshard test's time bound idle (tests/Reliability.Worker does the same).
    /// </summary>
    public static void UseReadMode(KinesisSourceOptions options, KinesisReadMode mode)
    {
        options.ReadMode = mode;
        if (mode == KinesisReadMode.EnhancedFanOut)
        {
            options.FanOut.ShardEndProbeInterval = TimeSpan.FromMilliseconds(500);
        }
    }
}
