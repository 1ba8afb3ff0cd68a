using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.DependencyInjection;

public sealed class ConfigurationTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "streamlanes-config-tests", Guid.NewGuid().ToString("N"));

    private static ServiceProvider Build(Dictionary<string, string?> configuration, Action<StreamConsumerBuilder> source, CollectingLoggerProvider logs)
        => ConfiguredConsumer.Build(configuration, source, logs);

    private static string[] Warnings(CollectingLoggerProvider logs)
        => [.. logs.Entries.Where(e => e.Id.Id == 34).Select(e => e.Message)];

    [Fact]
    public async Task Each_unknown_key_under_the_consumer_section_is_warned_about_once_with_the_likely_option_and_never_its_value()
    {
        var logs = new CollectingLoggerProvider();
        await using ServiceProvider provider = Build(
            new()
            {
                ["StreamConsumers:orders:MaxAtempts"] = "3",
                ["StreamConsumers:orders:RetryBaseDelay"] = "00:00:01",
                ["StreamConsumers:orders:ApiKey"] = "hunter2-secret",
                ["StreamConsumers:orders:CheckpointIntreval"] = "00:00:02",
                ["StreamConsumers:other:MaxAtempts"] = "3", // another consumer's section: not this consumer's business
            },
            consumer => consumer.FromInMemory(new InMemoryStream("s")).UseCheckpointStore(new StreamLanes.Checkpointing.InMemoryCheckpointStore()).UseDeadLetterSink(new StreamLanes.Sinks.InMemoryDeadLetterSink()),
            logs);

        IStreamConsumer consumer = provider.GetRequiredKeyedService<IStreamConsumer>("orders");
        Assert.Equal(5, provider.GetRequiredService<IOptionsMonitor<StreamConsumerOptions>>().Get("orders").MaxAttempts); // the misspelt key was not bound

        string[] warnings = Warnings(logs);
        Assert.Equal(3, warnings.Length);
        Assert.Contains("Configuration key StreamConsumers:orders:MaxAtempts is not a StreamLanes option and is ignored. Did you mean StreamConsumers:orders:MaxAttempts?", warnings);
        Assert.Contains("Configuration key StreamConsumers:orders:CheckpointIntreval is not a StreamLanes option and is ignored. Did you mean StreamConsumers:orders:CheckpointInterval?", warnings);
        Assert.Contains("Configuration key StreamConsumers:orders:ApiKey is not a StreamLanes option and is ignored.", warnings);
        Assert.All(logs.Entries, e => Assert.DoesNotContain("hunter2", e.Message, StringComparison.Ordinal));
        Assert.All(logs.Entries.Where(e => e.Id.Id == 34), e => Assert.Equal(LogLevel.Warning, e.Level));
        Assert.NotNull(consumer);
    }

    [Fact]
    public async Task Unknown_keys_inside_the_sources_section_and_a_section_the_consumer_does_not_use_are_warned_about()
    {
        var logs = new CollectingLoggerProvider();
        await using ServiceProvider provider = Build(
            new()
            {
                ["StreamConsumers:orders:Kinesis:MaxRecordsPerRead"] = "100",
                ["StreamConsumers:orders:Kinesis:IdleTimeBetweenRead"] = "00:00:01",
                ["StreamConsumers:orders:Kinesis:Leases:TableNmae"] = "x",
                ["StreamConsumers:orders:Kinesis:Aws:Region"] = "eu-west-1",
                ["StreamConsumers:orders:Kinesis:Aws:Regoin"] = "eu-west-2",
                ["StreamConsumers:orders:Sqs:Queue"] = "orders", // this consumer reads Kinesis: ignored
            },
            consumer => consumer.FromKinesis("orders-stream", kinesis => kinesis.Aws.KinesisServiceUrl = new Uri("http://127.0.0.1:1")),
            logs);

        _ = provider.GetRequiredKeyedService<IStreamConsumer>("orders");

        Assert.Equal(
            [
                "Configuration key StreamConsumers:orders:Kinesis:Aws:Regoin is not a StreamLanes option and is ignored. Did you mean StreamConsumers:orders:Kinesis:Aws:Region?",
                "Configuration key StreamConsumers:orders:Kinesis:IdleTimeBetweenRead is not a StreamLanes option and is ignored. Did you mean StreamConsumers:orders:Kinesis:IdleTimeBetweenReads?",
                "Configuration key StreamConsumers:orders:Kinesis:Leases:TableNmae is not a StreamLanes option and is ignored. Did you mean StreamConsumers:orders:Kinesis:Leases:TableName?",
                "Configuration key StreamConsumers:orders:Sqs is not a StreamLanes option and is ignored.",
            ],
            Warnings(logs).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("Credentials:AccessKey")]
    [InlineData("Credentials")]
    [InlineData("SecretAccessKey")]
    [InlineData("AccessKeyId")]
    public async Task Credentials_in_configuration_are_refused_naming_the_option_and_the_alternatives_never_the_secret(string key)
    {
        await using ServiceProvider provider = Build(
            new()
            {
                [$"StreamConsumers:orders:Kinesis:Aws:{key}"] = "wJalrXUtnFEMI-secret",
                ["StreamConsumers:orders:Kinesis:Aws:Credentials:SecretKey"] = key.StartsWith("Credentials", StringComparison.Ordinal) ? "wJalrXUtnFEMI-secret" : null,
            },
            consumer => consumer.FromKinesis("orders-stream"),
            new CollectingLoggerProvider());

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredKeyedService<IStreamConsumer>("orders"));
        string option = $"StreamConsumers:orders:Kinesis:Aws:{key.Split(':')[0]}";
        Assert.Contains(error.Failures, f => f.StartsWith($"{option} cannot be set in configuration", StringComparison.Ordinal));
        Assert.Contains("StreamConsumers:orders:Kinesis:Aws:Profile", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wJalrXUtnFEMI", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Cannot create instance", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_profile_is_bound_from_configuration_and_one_that_does_not_exist_fails_start_up_naming_it()
    {
        Directory.CreateDirectory(_directory);
        string credentials = Path.Combine(_directory, "credentials");
        File.WriteAllText(credentials, "[streamlanes-test]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = wJalrXUtnFEMI-secret\n");

        await using ServiceProvider good = Build(
            new()
            {
                ["StreamConsumers:orders:Kinesis:Aws:Profile"] = "streamlanes-test",
                ["StreamConsumers:orders:Kinesis:Aws:ProfilesLocation"] = credentials,
            },
            consumer => consumer.FromKinesis("orders-stream"),
            new CollectingLoggerProvider());
        Assert.NotNull(good.GetRequiredKeyedService<IStreamConsumer>("orders"));

        await using ServiceProvider missing = Build(
            new()
            {
                ["StreamConsumers:orders:Kinesis:Aws:Profile"] = "no-such-profile",
                ["StreamConsumers:orders:Kinesis:Aws:ProfilesLocation"] = credentials,
            },
            consumer => consumer.FromKinesis("orders-stream"),
            new CollectingLoggerProvider());
        var error = Assert.Throws<OptionsValidationException>(() => missing.GetRequiredKeyedService<IStreamConsumer>("orders"));
        Assert.Contains(error.Failures, f => f.StartsWith("StreamConsumers:orders:Kinesis:Aws:", StringComparison.Ordinal) && f.Contains("Profile 'no-such-profile' was not found in ProfilesLocation", StringComparison.Ordinal));
        Assert.DoesNotContain("wJalrXUtnFEMI", error.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
