using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;

namespace StreamLanes.Engine.Tests.DependencyInjection;

public sealed class RegistrationTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "streamlanes-tests", Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task Two_consumers_in_one_host_each_read_their_own_stream_with_their_own_handler()
    {
        var ordersStream = new InMemoryStream("orders", shardCount: 2);
        var paymentsStream = new InMemoryStream("payments", shardCount: 1);
        var orders = new OrderHandler();
        var payments = new RecordingHandler();
        var paymentLetters = new InMemoryDeadLetterSink();
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(orders).AddSingleton(payments);
        builder.Services.AddStreamConsumer<OrderHandler>("orders").FromInMemory(ordersStream).UseInMemoryCheckpoints().UseDeadLetterSink(new InMemoryDeadLetterSink());
        builder.Services.AddStreamConsumer<RecordingHandler>("payments", o => o.MaxAttempts = 1).FromInMemory(paymentsStream).UseInMemoryCheckpoints().UseDeadLetterSink(paymentLetters);
        payments.Behaviour = static (record, _, _) => record.PartitionKey == "p-bad" ? ValueTask.FromException(new InvalidOperationException()) : ValueTask.CompletedTask;
        using IHost host = builder.Build();

        for (int i = 0; i < 50; i++)
        {
            ordersStream.Put($"c{i % 5}", $"{{\"orderId\":{i},\"customer\":\"c{i % 5}\"}}");
            paymentsStream.Put(i == 7 ? "p-bad" : $"p{i}", "{}");
        }

        await host.StartAsync();
        IStreamConsumer ordersConsumer = host.Services.GetRequiredKeyedService<IStreamConsumer>("orders");
        IStreamConsumer paymentsConsumer = host.Services.GetRequiredKeyedService<IStreamConsumer>("payments");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (ordersConsumer.GetStatus().Handled < 50 || paymentsConsumer.GetStatus().Handled + paymentsConsumer.GetStatus().DeadLettered < 50)
        {
            await Task.Delay(5, timeout.Token);
        }

        await host.StopAsync();
        Assert.Equal("orders", ordersConsumer.Name);
        Assert.Equal(50, orders.Received.Count);
        Assert.Equal(49, payments.Successes.Count());
        Assert.Equal("p-bad", Assert.Single(paymentLetters.Envelopes).PartitionKey);
        Assert.Equal(0, ordersConsumer.GetStatus().DeadLettered);

        HealthReport health = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.Contains("streamlanes-orders", health.Entries.Keys);
        Assert.Contains("streamlanes-payments", health.Entries.Keys);
    }

    [Fact]
    public void A_duplicate_consumer_name_is_refused_at_registration()
    {
        var services = new ServiceCollection();
        services.AddStreamConsumer<RecordingHandler>("orders");
        ArgumentException error = Assert.Throws<ArgumentException>(() => services.AddStreamConsumer<OrderHandler>("orders"));
        Assert.Contains("'orders' is already registered", error.Message);
    }

    [Fact]
    public void A_handler_type_must_handle_exactly_one_message_type()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => new ServiceCollection().AddStreamConsumer<TwoWayHandler>());
        Assert.Contains("exactly one message type", error.Message);
        Assert.Throws<ArgumentException>(() => new ServiceCollection().AddStreamConsumer<object>());
    }

    [Fact]
    public async Task A_consumer_without_a_source_fails_at_start_up_saying_what_to_call()
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddStreamConsumer<RecordingHandler>("orphan");
        using IHost host = builder.Build();
        InvalidOperationException error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());
        Assert.Equal("Stream consumer 'orphan' has no source: call FromInMemory(...), FromKinesis(...) or FromSource(...) on the builder AddStreamConsumer returned.", error.Message);
    }

    [Fact]
    public async Task The_embedded_defaults_keep_checkpoints_and_dead_letters_in_the_data_directory()
    {
        var stream = new InMemoryStream("orders");
        var handler = new RecordingHandler { Behaviour = static (record, _, _) => record.PartitionKey == "bad" ? ValueTask.FromException(new InvalidOperationException()) : ValueTask.CompletedTask };
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(handler);
        builder.Services.AddStreamConsumer<RecordingHandler>("orders", options =>
        {
            options.DataDirectory = _directory;
            options.MaxAttempts = 1;
            options.CheckpointInterval = TimeSpan.FromMilliseconds(20);
        }).FromInMemory(stream);
        using IHost host = builder.Build();
        stream.Put("good", "{}");
        stream.Put("bad", "{\"x\":1}");
        await host.StartAsync();
        IStreamConsumer consumer = host.Services.GetRequiredKeyedService<IStreamConsumer>("orders");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (consumer.GetStatus() is not { Handled: 1, DeadLettered: 1 })
        {
            await Task.Delay(5, timeout.Token);
        }

        await host.StopAsync();
        IReadOnlyList<DeadLetterEnvelope> letters = await JsonLinesDeadLetterSink.ReadAllAsync(Path.Combine(_directory, "dead-letters", "orders.jsonl"));
        Assert.Equal("bad", Assert.Single(letters).PartitionKey);
        Assert.Single(Directory.GetFiles(Path.Combine(_directory, "checkpoints"), "*.checkpoints.json"));
    }

    [Fact]
    public async Task Scoped_handlers_get_a_scope_per_record()
    {
        var stream = new InMemoryStream("orders");
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddScoped<ScopeProbe>();
        builder.Services.AddSingleton<ScopedHandler.Seen>();
        builder.Services.AddStreamConsumer<ScopedHandler>("scoped", options => options.CreateScopePerRecord = true)
            .FromInMemory(stream).UseInMemoryCheckpoints().UseDeadLetterSink(new InMemoryDeadLetterSink());
        using IHost host = builder.Build();
        stream.Put("a", "1");
        stream.Put("a", "2");
        stream.Put("b", "3");
        await host.StartAsync();
        IStreamConsumer consumer = host.Services.GetRequiredKeyedService<IStreamConsumer>("scoped");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (consumer.GetStatus().Handled < 3)
        {
            await Task.Delay(5, timeout.Token);
        }

        await host.StopAsync();
        ScopedHandler.Seen seen = host.Services.GetRequiredService<ScopedHandler.Seen>();
        Assert.Equal(3, seen.Probes.Distinct().Count());
        Assert.All(seen.Probes, probe => Assert.True(probe.Disposed));
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private sealed class TwoWayHandler : IStreamHandler<string>, IStreamHandler<byte[]>
    {
        public ValueTask HandleAsync(string message, HandlerContext context) => ValueTask.CompletedTask;

        public ValueTask HandleAsync(byte[] message, HandlerContext context) => ValueTask.CompletedTask;
    }

    public sealed class ScopeProbe : IDisposable
    {
        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }

    public sealed class ScopedHandler(ScopeProbe probe, ScopedHandler.Seen seen) : IStreamHandler<string>
    {
        public ValueTask HandleAsync(string message, HandlerContext context)
        {
            seen.Probes.Add(probe);
            return ValueTask.CompletedTask;
        }

        public sealed class Seen
        {
            public System.Collections.Concurrent.ConcurrentBag<ScopeProbe> Probes { get; } = [];
        }
    }
}
