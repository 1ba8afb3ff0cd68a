using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamLanes.Sinks;

namespace StreamLanes.Benchmarks.Support;

/// <summary>
/// A started consumer composed exactly as an application composes one (<c>AddStreamConsumer</c>), reading from a
/// <see cref="PrebuiltRecordSource"/> with a <see cref="NoOpHandler"/> (or another handler), in-memory checkpoints and dead letters.
/// </summary>
internal sealed class BenchmarkConsumer : IAsyncDisposable
{
    public const string Name = "bench";

    private BenchmarkConsumer(IHost host, PrebuiltRecordSource source)
    {
        Host = host;
        Source = source;
        Runtime = host.Services.GetRequiredKeyedService<StreamConsumerRuntime>(Name);
    }

    public IHost Host { get; }

    public PrebuiltRecordSource Source { get; }

    public StreamConsumerRuntime Runtime { get; }

    public static Task<BenchmarkConsumer> StartAsync(int shardCount = 1, Action<StreamConsumerOptions>? configure = null)
        => StartAsync<NoOpHandler>(shardCount, configure);

    public static async Task<BenchmarkConsumer> StartAsync<THandler>(int shardCount = 1, Action<StreamConsumerOptions>? configure = null)
        where THandler : class, IStreamHandler<ReadOnlyMemory<byte>>
    {
        var source = new PrebuiltRecordSource("bench-stream", shardCount);
        HostApplicationBuilder builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services
            .AddStreamConsumer<THandler>(Name, options => configure?.Invoke(options))
            .FromSource(_ => source)
            .UseInMemoryCheckpoints()
            .UseDeadLetterSink(new InMemoryDeadLetterSink());
        IHost host = builder.Build();
        await host.StartAsync().ConfigureAwait(false);
        return new BenchmarkConsumer(host, source);
    }

    public async ValueTask DisposeAsync()
    {
        await Host.StopAsync().ConfigureAwait(false);
        Host.Dispose();
    }
}
