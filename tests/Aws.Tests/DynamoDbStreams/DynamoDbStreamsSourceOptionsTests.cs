using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace StreamLanes.Engine.Tests.Sources.DynamoDbStreams;

public sealed class DynamoDbStreamsSourceOptionsTests
{
    private static DynamoDbStreamsSourceOptions Valid() => new() { Stream = "orders", Leases = { TableName = "leases" } };

    [Fact]
    public void Defaults_are_valid()
    {
        Assert.Empty(Valid().Validate("S:"));
    }

    [Fact]
    public void Each_invalid_option_is_named_with_its_rule()
    {
        DynamoDbStreamsSourceOptions options = Valid();
        options.Stream = " ";
        options.MaxRecordsPerRead = 1001;
        options.IdleTimeBetweenReads = TimeSpan.FromMinutes(2);
        options.ReadRetry.MaxDelay = TimeSpan.FromMilliseconds(1);
        options.StartingPosition = (DynamoDbStreamsStartingPosition)7;
        IReadOnlyList<string> failures = options.Validate("StreamConsumers:items:DynamoDbStreams:");
        Assert.Contains("StreamConsumers:items:DynamoDbStreams:Stream must be set to the table's name or the stream's ARN.", failures);
        Assert.Contains("StreamConsumers:items:DynamoDbStreams:MaxRecordsPerRead must be between 1 and 1000; it was 1001.", failures);
        Assert.Contains(failures, f => f.StartsWith("StreamConsumers:items:DynamoDbStreams:IdleTimeBetweenReads must be between", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("StreamConsumers:items:DynamoDbStreams:ReadRetry:MaxDelay must be at least ReadRetry:InitialDelay", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("StreamConsumers:items:DynamoDbStreams:StartingPosition must be TrimHorizon or Latest", StringComparison.Ordinal));
    }

    private sealed class Handler : IStreamHandler<DynamoDbChange>
    {
        public ValueTask HandleAsync(DynamoDbChange message, HandlerContext context) => ValueTask.CompletedTask;
    }

    private static StreamConsumerOptions Options(Action<StreamConsumerOptions>? configure, IDictionary<string, string?>? configuration = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(configuration ?? new Dictionary<string, string?>()).Build());
        services.AddStreamConsumer<Handler>("items", configure).FromDynamoDbStream("orders");
        using ServiceProvider provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptionsMonitor<StreamConsumerOptions>>().Get("items");
    }

    [Fact]
    public void A_consumer_without_MaxRecordAge_gets_23_hours_below_the_streams_retention()
    {
        Assert.Equal(TimeSpan.FromHours(23), Options(null).MaxRecordAge);
    }

    [Fact]
    public void A_MaxRecordAge_set_in_code_or_configuration_is_kept()
    {
        Assert.Equal(TimeSpan.FromHours(2), Options(options => options.MaxRecordAge = TimeSpan.FromHours(2)).MaxRecordAge);
        Assert.Equal(TimeSpan.FromHours(6), Options(null, new Dictionary<string, string?> { ["StreamConsumers:items:MaxRecordAge"] = "06:00:00" }).MaxRecordAge);
    }
}
