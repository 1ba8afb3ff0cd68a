using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;

namespace StreamLanes.IntegrationTests.Support;

/// <summary>One worker: a host with one Kinesis consumer reading several streams (KCL's multi-stream mode).</summary>
public sealed class KinesisMultiStreamWorker : HostedWorker
{
    private KinesisMultiStreamWorker(IHost host, RecordingHandler handler, InMemoryDeadLetterSink deadLetters)
        : base(host, handler, deadLetters)
    {
    }

    /// <summary>A worker over a fixed list (<paramref name="streams"/>) or a discovery function (<paramref name="discover"/>).</summary>
    public static KinesisMultiStreamWorker Create(
        KinesisAndDynamoDbFixture emulators,
        string leaseTable,
        string id,
        IEnumerable<KinesisStreamOptions>? streams = null,
        Func<CancellationToken, Task<IReadOnlyList<KinesisStreamOptions>>>? discover = null,
        Action<KinesisSourceOptions>? kinesis = null,
        RecordingHandler? handler = null,
        Action<StreamConsumerBuilder>? build = null)
    {
        handler ??= new RecordingHandler();

        // Keys are per stream: one key in two streams is two independent orders.
        handler.KeyOf = static record => $"{record.StreamName}/{record.PartitionKey}";
        var deadLetters = new InMemoryDeadLetterSink();
        HostApplicationBuilder builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(handler);
        StreamConsumerBuilder consumer = builder.Services.AddStreamConsumer<RecordingHandler>("orders", options =>
        {
            options.CheckpointInterval = TimeSpan.FromMilliseconds(200);
            options.Retry.InitialDelay = TimeSpan.FromMilliseconds(10);
            options.Retry.MaxDelay = TimeSpan.FromMilliseconds(100);
            options.DrainTimeout = TimeSpan.FromSeconds(10);
        });
        void Configure(KinesisSourceOptions options)
        {
            options.Aws = emulators.Kinesis.CreateClientOptions();
            options.DynamoDbServiceUrl = emulators.DynamoDb.ServiceUrl;
            options.Leases.TableName = leaseTable;
            options.Leases.WorkerId = id;
            options.Leases.FailoverTime = TimeSpan.FromSeconds(3);
            options.Leases.ShardSyncInterval = TimeSpan.FromSeconds(2);
            options.IdleTimeBetweenReads = TimeSpan.FromMilliseconds(100);
            options.MinTimeBetweenReads = TimeSpan.FromMilliseconds(20);
            options.StreamDiscoveryInterval = TimeSpan.FromMilliseconds(500);
            options.FormerStreamLeaseDeletionDelay = TimeSpan.FromSeconds(3);
            kinesis?.Invoke(options);
        }

        consumer = discover is not null ? consumer.FromKinesis(discover, Configure) : consumer.FromKinesis(streams ?? [], Configure);
        consumer.UseDeadLetterSink(deadLetters);
        build?.Invoke(consumer);
        return new KinesisMultiStreamWorker(builder.Build(), handler, deadLetters);
    }
}
