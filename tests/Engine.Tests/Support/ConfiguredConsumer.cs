using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace StreamLanes.Engine.Tests.Support;

/// <summary>The set-up of the configuration tests: one consumer "orders" bound from in-memory configuration.</summary>
public static class ConfiguredConsumer
{
    /// <summary>
    /// A container holding <paramref name="configuration"/>, logging to <paramref name="logs"/>, and a consumer
    /// "orders" of string messages (a handler that does nothing) that <paramref name="source"/> completes.
    /// </summary>
    public static ServiceProvider Build(Dictionary<string, string?> configuration, Action<StreamConsumerBuilder> source, CollectingLoggerProvider logs)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(configuration).Build());
        services.AddLogging(logging => logging.AddProvider(logs));
        source(services.AddStreamConsumer<Handler>("orders"));
        return services.BuildServiceProvider();
    }

    private sealed class Handler : IStreamHandler<string>
    {
        public ValueTask HandleAsync(string message, HandlerContext context) => ValueTask.CompletedTask;
    }
}
