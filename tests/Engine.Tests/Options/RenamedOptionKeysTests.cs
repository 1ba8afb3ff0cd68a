using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.Options;

/// <summary>The back-off options renamed to the one <c>&lt;Operation&gt;Retry:InitialDelay|MaxDelay</c> scheme keep their old keys working.</summary>
public sealed class RenamedOptionKeysTests
{
    private const int RenamedKeyEvent = 39;

    private static ServiceProvider Build(Dictionary<string, string?> configuration, Action<StreamConsumerBuilder> source, CollectingLoggerProvider logs)
        => ConfiguredConsumer.Build(configuration, source, logs);

    private static void InMemory(StreamConsumerBuilder consumer)
        => consumer.FromInMemory(new InMemoryStream("s")).UseCheckpointStore(new StreamLanes.Checkpointing.InMemoryCheckpointStore()).UseDeadLetterSink(new StreamLanes.Sinks.InMemoryDeadLetterSink());

    private static string[] RenamedWarnings(CollectingLoggerProvider logs)
        => [.. logs.Entries.Where(e => e.Id.Id == RenamedKeyEvent).Select(e => e.Message).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task The_consumers_old_keys_bind_to_the_new_options_and_each_is_warned_about_once_naming_both_keys()
    {
        var logs = new CollectingLoggerProvider();
        await using ServiceProvider provider = Build(
            new()
            {
                ["StreamConsumers:orders:RetryBaseDelay"] = "00:00:00.300",
                ["StreamConsumers:orders:RetryMaxDelay"] = "00:00:09",
                ["StreamConsumers:orders:SinkRetryBaseDelay"] = "00:00:02",
                ["StreamConsumers:orders:SinkRetryMaxDelay"] = "00:00:40",
            },
            InMemory,
            logs);

        Assert.NotNull(provider.GetRequiredKeyedService<IStreamConsumer>("orders"));
        StreamConsumerOptions options = provider.GetRequiredService<IOptionsMonitor<StreamConsumerOptions>>().Get("orders");
        Assert.Equal(TimeSpan.FromMilliseconds(300), options.Retry.InitialDelay);
        Assert.Equal(TimeSpan.FromSeconds(9), options.Retry.MaxDelay);
        Assert.Equal(TimeSpan.FromSeconds(2), options.SinkRetry.InitialDelay);
        Assert.Equal(TimeSpan.FromSeconds(40), options.SinkRetry.MaxDelay);
        Assert.Equal(
            [
                "Configuration key StreamConsumers:orders:RetryBaseDelay was renamed StreamConsumers:orders:Retry:InitialDelay; the old key still works, but move to the new one.",
                "Configuration key StreamConsumers:orders:RetryMaxDelay was renamed StreamConsumers:orders:Retry:MaxDelay; the old key still works, but move to the new one.",
                "Configuration key StreamConsumers:orders:SinkRetryBaseDelay was renamed StreamConsumers:orders:SinkRetry:InitialDelay; the old key still works, but move to the new one.",
                "Configuration key StreamConsumers:orders:SinkRetryMaxDelay was renamed StreamConsumers:orders:SinkRetry:MaxDelay; the old key still works, but move to the new one.",
            ],
            RenamedWarnings(logs));
        Assert.All(logs.Entries.Where(e => e.Id.Id == RenamedKeyEvent), e => Assert.Equal(LogLevel.Warning, e.Level));
        Assert.DoesNotContain(logs.Entries, e => e.Id.Id == 34); // not reported as unknown keys as well
    }

    [Fact]
    public async Task The_new_key_wins_when_both_are_set()
    {
        var logs = new CollectingLoggerProvider();
        await using ServiceProvider provider = Build(
            new()
            {
                ["StreamConsumers:orders:SinkRetryBaseDelay"] = "00:00:02",
                ["StreamConsumers:orders:SinkRetry:InitialDelay"] = "00:00:03",
            },
            InMemory,
            logs);

        Assert.Equal(TimeSpan.FromSeconds(3), provider.GetRequiredService<IOptionsMonitor<StreamConsumerOptions>>().Get("orders").SinkRetry.InitialDelay);
    }

    [Fact]
    public async Task An_invalid_value_under_an_old_key_fails_start_up_with_the_new_options_rule()
    {
        var logs = new CollectingLoggerProvider();
        await using ServiceProvider provider = Build(new() { ["StreamConsumers:orders:RetryBaseDelay"] = "-00:00:01" }, InMemory, logs);

        OptionsValidationException error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredKeyedService<IStreamConsumer>("orders"));
        Assert.Contains("StreamConsumers:orders:Retry:InitialDelay must be between 00:00:00 and 01:00:00; it was -00:00:01.", error.Failures);
        Assert.Single(RenamedWarnings(logs));
    }

    [Fact]
    public async Task A_sources_old_keys_and_its_aws_old_keys_bind_and_are_warned_about()
    {
        var logs = new CollectingLoggerProvider();
        await using ServiceProvider provider = Build(
            new()
            {
                ["StreamConsumers:orders:Kinesis:ReadBackoff"] = "00:00:00.250",
                ["StreamConsumers:orders:Kinesis:MaxReadBackoff"] = "00:00:05",
                ["StreamConsumers:orders:Kinesis:Aws:BaseRetryDelay"] = "00:00:00.020",
                ["StreamConsumers:orders:Kinesis:Aws:MaxRetryDelay"] = "00:00:02",
            },
            consumer => consumer.FromKinesis("orders-stream", kinesis => kinesis.Aws.KinesisServiceUrl = new Uri("http://127.0.0.1:1")),
            logs);

        Assert.NotNull(provider.GetRequiredKeyedService<IStreamConsumer>("orders")); // builds the source, which binds its section
        KinesisSourceOptions options = provider.GetRequiredService<IOptionsMonitor<KinesisSourceOptions>>().Get("orders");
        Assert.Equal(TimeSpan.FromMilliseconds(250), options.ReadRetry.InitialDelay);
        Assert.Equal(TimeSpan.FromSeconds(5), options.ReadRetry.MaxDelay);
        Assert.Equal(TimeSpan.FromMilliseconds(20), options.Aws.TransportRetry.InitialDelay);
        Assert.Equal(TimeSpan.FromSeconds(2), options.Aws.TransportRetry.MaxDelay);
        Assert.Equal(
            [
                "Configuration key StreamConsumers:orders:Kinesis:Aws:BaseRetryDelay was renamed StreamConsumers:orders:Kinesis:Aws:TransportRetry:InitialDelay; the old key still works, but move to the new one.",
                "Configuration key StreamConsumers:orders:Kinesis:Aws:MaxRetryDelay was renamed StreamConsumers:orders:Kinesis:Aws:TransportRetry:MaxDelay; the old key still works, but move to the new one.",
                "Configuration key StreamConsumers:orders:Kinesis:MaxReadBackoff was renamed StreamConsumers:orders:Kinesis:ReadRetry:MaxDelay; the old key still works, but move to the new one.",
                "Configuration key StreamConsumers:orders:Kinesis:ReadBackoff was renamed StreamConsumers:orders:Kinesis:ReadRetry:InitialDelay; the old key still works, but move to the new one.",
            ],
            RenamedWarnings(logs));
    }

    [Fact]
    public async Task The_sqs_sources_old_keys_bind_to_its_receive_retry()
    {
        var logs = new CollectingLoggerProvider();
        await using ServiceProvider provider = Build(
            new()
            {
                ["StreamConsumers:orders:Sqs:ReceiveBackoff"] = "00:00:00.750",
                ["StreamConsumers:orders:Sqs:MaxReceiveBackoff"] = "00:00:07",
            },
            consumer => consumer.FromSqs("http://127.0.0.1:1/000000000000/orders", sqs => sqs.Aws.SqsServiceUrl = new Uri("http://127.0.0.1:1")),
            logs);

        Assert.NotNull(provider.GetRequiredKeyedService<IStreamConsumer>("orders"));
        SqsSourceOptions options = provider.GetRequiredService<IOptionsMonitor<SqsSourceOptions>>().Get("orders");
        Assert.Equal(TimeSpan.FromMilliseconds(750), options.ReceiveRetry.InitialDelay);
        Assert.Equal(TimeSpan.FromSeconds(7), options.ReceiveRetry.MaxDelay);
        Assert.Equal(2, RenamedWarnings(logs).Length);
    }
}
