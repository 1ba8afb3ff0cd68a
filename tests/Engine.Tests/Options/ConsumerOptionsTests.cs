using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace StreamLanes.Engine.Tests.Options;

/// <summary>Every options type of a consumer is registered one way: named options, bound, configured in code, validated at start.</summary>
public sealed class ConsumerOptionsTests
{
    private sealed class Handler : IStreamHandler<string>
    {
        public ValueTask HandleAsync(string message, HandlerContext context) => ValueTask.CompletedTask;
    }

    private static IHost Build(Dictionary<string, string?> configuration, Action<StreamConsumerBuilder> parts)
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(configuration);
        parts(builder.Services.AddStreamConsumer<Handler>("orders"));
        return builder.Build();
    }

    [Fact]
    public void A_sources_and_a_sinks_options_are_the_consumers_named_options_with_defaults_then_configuration_then_code()
    {
        using IHost host = Build(
            new()
            {
                ["StreamConsumers:orders:Kinesis:MaxRecordsPerRead"] = "250",
                ["StreamConsumers:orders:Kinesis:IdleTimeBetweenReads"] = "00:00:03",
                ["StreamConsumers:orders:SqsDeadLetters:MaxBatchSize"] = "4",
            },
            consumer => consumer
                .FromKinesis("orders-stream", kinesis => kinesis.IdleTimeBetweenReads = TimeSpan.FromSeconds(2))
                .UseSqsDeadLetters("http://127.0.0.1:1/000000000000/dead-letters"));

        KinesisSourceOptions kinesis = host.Services.GetRequiredService<IOptionsMonitor<KinesisSourceOptions>>().Get("orders");
        Assert.Equal("orders-stream", kinesis.StreamName); // default from the call
        Assert.Equal("streamlanes-leases-orders", kinesis.Leases.TableName);
        Assert.Equal(250, kinesis.MaxRecordsPerRead); // configuration
        Assert.Equal(TimeSpan.FromSeconds(2), kinesis.IdleTimeBetweenReads); // code wins
        SqsDeadLetterSinkOptions sink = host.Services.GetRequiredService<IOptionsMonitor<SqsDeadLetterSinkOptions>>().Get("orders");
        Assert.Equal("http://127.0.0.1:1/000000000000/dead-letters", sink.QueueUrl);
        Assert.Equal(4, sink.MaxBatchSize);
    }

    [Fact]
    public async Task An_invalid_source_option_fails_the_hosts_start_naming_the_option_and_rule()
    {
        using IHost host = Build(
            new() { ["StreamConsumers:orders:Kinesis:MaxRecordsPerRead"] = "0" },
            consumer => consumer.FromKinesis("orders-stream"));

        OptionsValidationException error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Equal(typeof(KinesisSourceOptions), error.OptionsType);
        Assert.Contains("StreamConsumers:orders:Kinesis:MaxRecordsPerRead must be between 1 and 10000; it was 0.", error.Failures);
    }

    [Fact]
    public async Task An_invalid_sink_option_fails_the_hosts_start_naming_the_option_and_rule()
    {
        using IHost host = Build(
            new() { ["StreamConsumers:orders:SqsDeadLetters:MaxBatchSize"] = "11" },
            consumer => consumer.FromInMemory(new InMemoryStream("s")).UseSqsDeadLetters("http://127.0.0.1:1/000000000000/dead-letters"));

        OptionsValidationException error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Equal(typeof(SqsDeadLetterSinkOptions), error.OptionsType);
        Assert.Contains("StreamConsumers:orders:SqsDeadLetters:MaxBatchSize must be between 1 and 10, not 11.", error.Failures);
    }

    [Fact]
    public async Task A_sinks_invalid_AWS_setting_is_named_by_its_full_configuration_path()
    {
        using IHost host = Build(
            new() { ["StreamConsumers:orders:DynamoDbDeadLetters:Aws:MaxTransportRetries"] = "99" },
            consumer => consumer.FromInMemory(new InMemoryStream("s")).UseDynamoDbDeadLetters("dead-letters"));

        OptionsValidationException error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Equal(typeof(DynamoDbDeadLetterSinkOptions), error.OptionsType);
        Assert.Equal(["StreamConsumers:orders:DynamoDbDeadLetters:Aws:MaxTransportRetries must be between 0 and 20, not 99."], error.Failures);
    }

    [Fact]
    public void Two_consumers_options_of_one_type_are_kept_and_validated_apart()
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["StreamConsumers:b:Sqs:MaxMessagesPerReceive"] = "0" });
        builder.Services.AddStreamConsumer<Handler>("a").FromSqs("http://127.0.0.1:1/000000000000/a");
        builder.Services.AddStreamConsumer<Handler>("b").FromSqs("http://127.0.0.1:1/000000000000/b");
        using IHost host = builder.Build();
        IOptionsMonitor<SqsSourceOptions> monitor = host.Services.GetRequiredService<IOptionsMonitor<SqsSourceOptions>>();

        Assert.Equal("http://127.0.0.1:1/000000000000/a", monitor.Get("a").Queue);
        OptionsValidationException error = Assert.Throws<OptionsValidationException>(() => monitor.Get("b"));
        Assert.All(error.Failures, f => Assert.StartsWith("StreamConsumers:b:Sqs:", f, StringComparison.Ordinal));
    }
}
