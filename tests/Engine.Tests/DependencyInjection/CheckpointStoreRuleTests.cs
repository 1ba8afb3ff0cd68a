using Microsoft.Extensions.DependencyInjection;
using StreamLanes.Checkpointing;
using StreamLanes.Sinks;

namespace StreamLanes.Engine.Tests.DependencyInjection;

/// <summary>A checkpoint store configured for a source that keeps its own checkpoints fails start-up instead of being silently unused.</summary>
public sealed class CheckpointStoreRuleTests
{
    private sealed class Handler : IStreamHandler<string>
    {
        public ValueTask HandleAsync(string message, HandlerContext context) => ValueTask.CompletedTask;
    }

    /// <summary>A source that keeps its checkpoints elsewhere, as the leased and SQS sources do.</summary>
    private sealed class OwnCheckpointsSource : IStreamSource
    {
        public SourceKind Kind => SourceKind.Sqs;

        public string StreamName => "queue";

        public bool UsesConsumerCheckpointStore => false;

        public Task StartAsync(ISourceHost host, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopReadingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task ReleaseAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private static ServiceProvider Build(Action<StreamConsumerBuilder> configure)
    {
        var services = new ServiceCollection();
        configure(services.AddStreamConsumer<Handler>("orders").UseDeadLetterSink(new InMemoryDeadLetterSink()));
        return services.BuildServiceProvider();
    }

    public static TheoryData<string> StoreCalls => ["UseInMemoryCheckpoints", "UseFileCheckpoints", "UseCheckpointStore"];

    private static StreamConsumerBuilder WithStore(StreamConsumerBuilder builder, string call, Action? built = null) => call switch
    {
        "UseInMemoryCheckpoints" => builder.UseInMemoryCheckpoints(),
        "UseFileCheckpoints" => builder.UseFileCheckpoints(Path.GetTempPath()),
        _ => builder.UseCheckpointStore(_ =>
        {
            built?.Invoke();
            return new InMemoryCheckpointStore();
        }),
    };

    [Theory]
    [MemberData(nameof(StoreCalls))]
    public async Task A_store_configured_for_a_kinesis_source_fails_start_up_naming_the_rule(string call)
    {
        await using ServiceProvider provider = Build(consumer => WithStore(
            consumer.FromKinesis("orders-stream", kinesis => kinesis.Aws.KinesisServiceUrl = new Uri("http://127.0.0.1:1")), call));

        var error = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredKeyedService<IStreamConsumer>("orders"));
        Assert.Equal(
            "Stream consumer 'orders' reads a Kinesis source, which keeps its own checkpoints (Kinesis and DynamoDB Streams in their lease table, "
            + "SQS by deleting handled messages); UseCheckpointStore, UseFileCheckpoints and UseInMemoryCheckpoints apply only to sources that save "
            + "through the consumer's checkpoint store (in-memory, or your own FromSource). Remove the call.",
            error.Message);
    }

    [Fact]
    public async Task A_source_that_keeps_its_own_checkpoints_never_builds_the_configured_store()
    {
        int built = 0;
        await using ServiceProvider provider = Build(consumer => WithStore(consumer.FromSource(_ => new OwnCheckpointsSource()), "UseCheckpointStore", () => built++));

        var error = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredKeyedService<IStreamConsumer>("orders"));
        Assert.Contains("reads a Sqs source, which keeps its own checkpoints", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, built);
    }

    [Fact]
    public async Task A_source_that_keeps_its_own_checkpoints_starts_without_a_store_and_a_source_that_uses_the_store_gets_the_configured_one()
    {
        await using (ServiceProvider own = Build(consumer => consumer.FromSource(_ => new OwnCheckpointsSource())))
        {
            Assert.NotNull(own.GetRequiredKeyedService<IStreamConsumer>("orders"));
        }

        int built = 0;
        var stream = new InMemoryStream("orders");
        await using ServiceProvider inMemory = Build(consumer => WithStore(consumer.FromInMemory(stream), "UseCheckpointStore", () => built++));
        Assert.NotNull(inMemory.GetRequiredKeyedService<IStreamConsumer>("orders"));
        Assert.Equal(1, built);
    }

    /// <summary>A source without checkpoints that keeps a ParkKey consumer's parked keys in the store, as the SQS source does.</summary>
    private sealed class ParkedKeysSource : IStreamSource, IParkedKeysInCheckpointStore
    {
        public SourceKind Kind => SourceKind.Sqs;

        public string StreamName => "queue";

        public bool UsesConsumerCheckpointStore => false;

        public Task StartAsync(ISourceHost host, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopReadingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task ReleaseAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    [Fact]
    public async Task A_source_keeping_parked_keys_in_the_store_gets_the_configured_store_with_ParkKey_and_refuses_it_otherwise()
    {
        int built = 0;
        var services = new ServiceCollection();
        WithStore(
            services.AddStreamConsumer<Handler>("orders", options => options.FailureMode = KeyFailureMode.ParkKey).UseDeadLetterSink(new InMemoryDeadLetterSink()).FromSource(_ => new ParkedKeysSource()),
            "UseCheckpointStore",
            () => built++);
        await using (ServiceProvider parking = services.BuildServiceProvider())
        {
            Assert.NotNull(parking.GetRequiredKeyedService<IStreamConsumer>("orders"));
            Assert.Equal(1, built);
        }

        await using ServiceProvider notParking = Build(consumer => WithStore(consumer.FromSource(_ => new ParkedKeysSource()), "UseCheckpointStore", () => built++));
        var error = Assert.Throws<InvalidOperationException>(() => notParking.GetRequiredKeyedService<IStreamConsumer>("orders"));
        Assert.Contains("keeps only the parked keys of FailureMode ParkKey, and this consumer's FailureMode is DeadLetterAndContinue", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, built);
    }
}
