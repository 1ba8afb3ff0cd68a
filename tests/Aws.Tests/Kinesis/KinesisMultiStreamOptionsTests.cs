using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using StreamLanes.Kinesis;

namespace StreamLanes.Aws.Tests.Kinesis;

/// <summary>The multi-stream options of the Kinesis source: each rule broken is named with its option.</summary>
public sealed class KinesisMultiStreamOptionsTests
{
    private const string Prefix = "StreamConsumers:orders:Kinesis:";

    private static KinesisSourceOptions Valid(params string[] streams)
    {
        var options = new KinesisSourceOptions { MultiStream = true, Leases = { TableName = "leases" } };
        foreach (string stream in streams)
        {
            options.Streams.Add(new KinesisStreamOptions { StreamName = stream });
        }

        return options;
    }

    [Fact]
    public void Two_streams_with_the_defaults_are_valid()
    {
        KinesisSourceOptions options = Valid("a", "arn:aws:kinesis:us-east-1:123456789012:stream/b");
        Assert.Empty(options.Validate(Prefix));
        Assert.Equal(TimeSpan.FromMinutes(1), options.StreamDiscoveryInterval);
        Assert.Equal(TimeSpan.FromHours(1), options.FormerStreamLeaseDeletionDelay);
    }

    [Fact]
    public void An_empty_list_is_named()
    {
        Assert.Contains($"{Prefix}Streams must name at least one stream (or set DiscoverStreams); it was empty.", Valid().Validate(Prefix));
    }

    [Fact]
    public void A_stream_named_twice_is_named_also_as_name_and_arn()
    {
        Assert.Contains($"{Prefix}Streams must name each stream once; 'a' appears 2 times.", Valid("a", "b", "a").Validate(Prefix));
        Assert.Contains($"{Prefix}Streams must name each stream once; 'b' appears 2 times.", Valid("b", "arn:aws:kinesis:us-east-1:123456789012:stream/b").Validate(Prefix));
    }

    [Fact]
    public void Bad_intervals_and_stream_entries_are_named_with_their_rules()
    {
        KinesisSourceOptions options = Valid("a", " ");
        options.StreamDiscoveryInterval = TimeSpan.FromMilliseconds(10);
        options.Streams[0].AccountId = "12";
        options.Streams[0].CreationEpoch = 0;
        options.Streams[0].StartingPosition = KinesisStartingPosition.AtTimestamp;
        IReadOnlyList<string> failures = options.Validate(Prefix);
        Assert.Contains($"{Prefix}StreamDiscoveryInterval must be between 100 ms and 1 hour; it was 00:00:00.0100000.", failures);
        Assert.Contains($"{Prefix}Streams:1:StreamName must be set to the stream's name or ARN.", failures);
        Assert.Contains($"{Prefix}Streams:0:AccountId must be 12 digits; it was '12'.", failures);
        Assert.Contains($"{Prefix}Streams:0:CreationEpoch must be above zero (seconds since 1970); it was 0.", failures);
        Assert.Contains($"{Prefix}Streams:0:StartingTimestamp (or the source's StartingTimestamp) must be set when its StartingPosition is AtTimestamp.", failures);

        options = Valid("a");
        options.StreamDiscoveryInterval = TimeSpan.FromSeconds(30);
        options.FormerStreamLeaseDeletionDelay = TimeSpan.FromSeconds(5);
        Assert.Contains($"{Prefix}FormerStreamLeaseDeletionDelay must be between StreamDiscoveryInterval (00:00:30) and 30 days; it was 00:00:05.", options.Validate(Prefix));
    }

    [Fact]
    public void One_stream_and_several_are_exclusive_and_so_are_a_list_and_a_discovery()
    {
        KinesisSourceOptions options = Valid("a");
        options.StreamName = "b";
        options.DiscoverStreams = _ => Task.FromResult<IReadOnlyList<KinesisStreamOptions>>([]);
        IReadOnlyList<string> failures = options.Validate(Prefix);
        Assert.Contains(failures, f => f.StartsWith($"{Prefix}StreamName must not be set together with Streams or DiscoverStreams", StringComparison.Ordinal));
        Assert.Contains($"{Prefix}Streams and DiscoverStreams must not both be set: give a fixed list or a discovery function.", failures);
    }

    [Fact]
    public async Task An_empty_list_given_to_FromKinesis_fails_start_up_naming_the_option()
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddStreamConsumer<Handler>("orders").FromKinesis(Array.Empty<string>(), options => options.Leases.TableName = "leases");
        using IHost host = builder.Build();
        OptionsValidationException failure = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains($"{Prefix}Streams must name at least one stream (or set DiscoverStreams); it was empty.", failure.Failures);
    }

    [Fact]
    public void The_streams_bind_from_configuration_with_their_own_starting_positions()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"{Prefix}Streams:0:StreamName"] = "a",
            [$"{Prefix}Streams:1:StreamName"] = "b",
            [$"{Prefix}Streams:1:StartingPosition"] = "Latest",
            [$"{Prefix}Streams:1:CreationEpoch"] = "1700000000",
            [$"{Prefix}StreamDiscoveryInterval"] = "00:00:05",
        }).Build());
        services.AddStreamConsumer<Handler>("orders").FromKinesis(Array.Empty<KinesisStreamOptions>(), null);
        using ServiceProvider provider = services.BuildServiceProvider();
        KinesisSourceOptions options = provider.GetRequiredService<IOptionsMonitor<KinesisSourceOptions>>().Get("orders");
        Assert.Equal(["a", "b"], options.Streams.Select(s => s.StreamName));
        Assert.Null(options.Streams[0].StartingPosition);
        Assert.Equal(KinesisStartingPosition.Latest, options.Streams[1].StartingPosition);
        Assert.Equal(1700000000, options.Streams[1].CreationEpoch);
        Assert.Equal(TimeSpan.FromSeconds(5), options.StreamDiscoveryInterval);
    }

    private sealed class Handler : IStreamHandler<ReadOnlyMemory<byte>>
    {
        public ValueTask HandleAsync(ReadOnlyMemory<byte> message, HandlerContext context) => ValueTask.CompletedTask;
    }
}
