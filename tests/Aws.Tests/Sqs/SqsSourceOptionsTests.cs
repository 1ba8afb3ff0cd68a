using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace StreamLanes.Engine.Tests.Sources.Sqs;

public sealed class SqsSourceOptionsTests
{
    [Fact]
    public void Defaults_are_valid_and_the_heartbeat_beats_three_times_per_visibility_timeout()
    {
        var options = new SqsSourceOptions { Queue = "orders.fifo" };
        Assert.Empty(options.Validate("Q:"));
        Assert.Equal(TimeSpan.FromSeconds(10), options.EffectiveHeartbeatInterval);
        Assert.True(options.IsFifo);
    }

    [Fact]
    public void A_queue_url_gives_its_name_and_kind()
    {
        var options = new SqsSourceOptions { Queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders" };
        Assert.True(options.QueueIsUrl);
        Assert.Equal("orders", options.QueueName);
        Assert.False(options.IsFifo);
    }

    [Fact]
    public void Each_invalid_option_is_named_with_its_rule()
    {
        var options = new SqsSourceOptions
        {
            Queue = "orders.fifo",
            PartitionKeyAttribute = "tenant",
            Receivers = 0,
            MaxMessagesPerReceive = 11,
            WaitTime = TimeSpan.FromSeconds(21),
            VisibilityTimeout = TimeSpan.FromMilliseconds(1500),
            MaxVisibilityHold = TimeSpan.FromHours(13),
        };
        IReadOnlyList<string> failures = options.Validate("StreamConsumers:orders:Sqs:");
        Assert.Contains("StreamConsumers:orders:Sqs:PartitionKeyAttribute must not be set for a FIFO queue (orders.fifo): its messages are keyed by MessageGroupId.", failures);
        Assert.Contains("StreamConsumers:orders:Sqs:Receivers must be between 1 and 50; it was 0.", failures);
        Assert.Contains("StreamConsumers:orders:Sqs:MaxMessagesPerReceive must be between 1 and 10; it was 11.", failures);
        Assert.Contains("StreamConsumers:orders:Sqs:WaitTime must be whole seconds between 00:00:00 and 00:00:20; it was 00:00:21.", failures);
        Assert.Contains("StreamConsumers:orders:Sqs:VisibilityTimeout must be whole seconds between 00:00:02 and 12:00:00; it was 00:00:01.5000000.", failures);
        Assert.Contains(failures, f => f.StartsWith("StreamConsumers:orders:Sqs:MaxVisibilityHold must be at least VisibilityTimeout", StringComparison.Ordinal));
    }

    [Fact]
    public void A_heartbeat_too_slow_for_the_visibility_timeout_is_refused()
    {
        var options = new SqsSourceOptions { Queue = "orders", VisibilityTimeout = TimeSpan.FromSeconds(10), HeartbeatInterval = TimeSpan.FromSeconds(5) };
        Assert.Contains("Q:HeartbeatInterval must be at least 00:00:00.5 and less than half of VisibilityTimeout (00:00:10); it was 00:00:05.", options.Validate("Q:"));
    }

    [Fact]
    public void An_empty_queue_is_refused()
    {
        Assert.Contains("Q:Queue must be set to the queue's URL or name.", new SqsSourceOptions().Validate("Q:"));
    }
}

public sealed class SqsRegistrationTests
{
    private sealed class Handler : IStreamHandler<string>
    {
        public ValueTask HandleAsync(string message, HandlerContext context) => ValueTask.CompletedTask;
    }

    [Fact]
    public void Options_bound_from_configuration_are_validated_when_the_consumer_is_built_naming_the_configuration_path()
    {
        var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection();
        services.AddSingleton<Microsoft.Extensions.Configuration.IConfiguration>(new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["StreamConsumers:payments:Sqs:Receivers"] = "0", ["StreamConsumers:payments:Sqs:WaitTime"] = "00:00:05" })
            .Build());
        services.AddStreamConsumer<Handler>("payments").FromSqs("payments.fifo");
        using Microsoft.Extensions.DependencyInjection.ServiceProvider provider = services.BuildServiceProvider();
        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => provider.GetRequiredKeyedService<IStreamConsumer>("payments"));
        Assert.Equal(["StreamConsumers:payments:Sqs:Receivers must be between 1 and 50; it was 0."], error.Failures);
    }
}
