using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.DependencyInjection;

/// <summary>The sinks' builder methods bind <c>StreamConsumers:&lt;name&gt;:&lt;section&gt;</c> like the sources, and the unknown-key warning knows their sections.</summary>
public sealed class SinkConfigurationTests
{
    private sealed class Handler : IStreamHandler<string>
    {
        public ValueTask HandleAsync(string message, HandlerContext context) => ValueTask.CompletedTask;
    }

    private static ServiceProvider Build(Dictionary<string, string?> configuration, Action<StreamConsumerBuilder> configure, CollectingLoggerProvider logs)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(configuration).Build());
        services.AddLogging(logging => logging.AddProvider(logs));
        configure(services.AddStreamConsumer<Handler>("orders").FromInMemory(new InMemoryStream("s")).UseInMemoryCheckpoints());
        return services.BuildServiceProvider();
    }

    private static string[] Warnings(CollectingLoggerProvider logs)
        => [.. logs.Entries.Where(e => e.Id.Id == 34).Select(e => e.Message)];

    [Fact]
    public async Task Unknown_keys_in_the_sink_and_claim_check_sections_are_warned_about_with_the_likely_option()
    {
        var logs = new CollectingLoggerProvider();
        await using ServiceProvider provider = Build(
            new()
            {
                ["StreamConsumers:orders:SqsDeadLetters:QueueUrl"] = "http://127.0.0.1:1/000000000000/dead-letters",
                ["StreamConsumers:orders:SqsDeadLetters:MaxBatchSzie"] = "5",
                ["StreamConsumers:orders:SqsDeadLetters:Aws:Regoin"] = "eu-west-1",
                ["StreamConsumers:orders:S3ClaimCheck:BucketName"] = "dead-letters",
                ["StreamConsumers:orders:S3ClaimCheck:KeyPrefx"] = "x/",
                ["StreamConsumers:orders:DynamoDbDeadLetters:TableName"] = "not used by this consumer",
            },
            consumer => consumer.UseSqsDeadLetters().UseS3ClaimCheck(),
            logs);

        Assert.NotNull(provider.GetRequiredKeyedService<IStreamConsumer>("orders"));

        string[] warnings = Warnings(logs);
        Assert.Equal(
            [
                "Configuration key StreamConsumers:orders:DynamoDbDeadLetters is not a StreamLanes option and is ignored.",
                "Configuration key StreamConsumers:orders:S3ClaimCheck:KeyPrefx is not a StreamLanes option and is ignored. Did you mean StreamConsumers:orders:S3ClaimCheck:KeyPrefix?",
                "Configuration key StreamConsumers:orders:SqsDeadLetters:Aws:Regoin is not a StreamLanes option and is ignored. Did you mean StreamConsumers:orders:SqsDeadLetters:Aws:Region?",
                "Configuration key StreamConsumers:orders:SqsDeadLetters:MaxBatchSzie is not a StreamLanes option and is ignored. Did you mean StreamConsumers:orders:SqsDeadLetters:MaxBatchSize?",
            ],
            warnings.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Invalid_sink_options_from_configuration_fail_start_up_naming_the_section_the_option_and_the_rule()
    {
        var logs = new CollectingLoggerProvider();
        await using ServiceProvider provider = Build(
            new()
            {
                ["StreamConsumers:orders:SqsDeadLetters:QueueUrl"] = "dead-letters",
                ["StreamConsumers:orders:SqsDeadLetters:MaxBatchSize"] = "11",
            },
            consumer => consumer.UseSqsDeadLetters(),
            logs);

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredKeyedService<IStreamConsumer>("orders"));
        Assert.Contains("StreamConsumers:orders:SqsDeadLetters:QueueUrl must be an absolute http or https queue URL, not 'dead-letters'.", error.Message, StringComparison.Ordinal);
        Assert.Contains("StreamConsumers:orders:SqsDeadLetters:MaxBatchSize must be between 1 and 10, not 11.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Code_wins_over_configuration_for_the_dynamodb_sink_and_a_missing_table_name_is_named()
    {
        var logs = new CollectingLoggerProvider();
        await using ServiceProvider provider = Build(
            new() { ["StreamConsumers:orders:DynamoDbDeadLetters:TableName"] = "x" },
            consumer => consumer.UseDynamoDbDeadLetters(configure: o => o.TableName = "  "),
            logs);

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredKeyedService<IStreamConsumer>("orders"));
        Assert.Contains("StreamConsumers:orders:DynamoDbDeadLetters:TableName must be 3 to 255 characters", error.Message, StringComparison.Ordinal);
    }
}
