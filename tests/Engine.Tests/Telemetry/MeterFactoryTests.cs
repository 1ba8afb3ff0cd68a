using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.Telemetry;

/// <summary>The consumer's meter comes from its host's <see cref="IMeterFactory"/>, with the instrument names unchanged.</summary>
public sealed class MeterFactoryTests
{
    private static readonly string[] InstrumentNames =
    [
        "streamlanes.records.received", "streamlanes.records.handled", "streamlanes.records.retried", "streamlanes.records.dead_lettered",
        "streamlanes.sink.failures", "streamlanes.checkpoints.saved", "streamlanes.source.millis_behind_latest", "streamlanes.handler.duration",
        "streamlanes.lanes.active", "streamlanes.lanes.blocked", "streamlanes.records.buffered", "streamlanes.checkpoint.lag",
    ];

    [Fact]
    public async Task Each_host_publishes_its_consumers_metrics_on_the_meter_its_own_factory_created()
    {
        var received = new ConcurrentQueue<(object? Scope, string Consumer, long Value)>();
        var published = new ConcurrentDictionary<(object? Scope, string Instrument), bool>();
        var completed = new ConcurrentQueue<object?>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == StreamLanesMetrics.MeterName && instrument.Meter.Scope is not null)
            {
                published[(instrument.Meter.Scope, instrument.Name)] = true;
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.MeasurementsCompleted = (instrument, _) => completed.Enqueue(instrument.Meter.Scope);
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "streamlanes.records.received" && ConsumerOf(tags) is string consumer)
            {
                received.Enqueue((instrument.Meter.Scope, consumer, value));
            }
        });
        listener.Start();

        var streamA = new InMemoryStream("orders");
        var streamB = new InMemoryStream("orders");
        await using var hostA = ConsumerHarness.Create(streamA, new RecordingHandler(), name: "meter-a");
        ConsumerHarness hostB = ConsumerHarness.Create(streamB, new RecordingHandler(), name: "meter-b");
        IMeterFactory factoryA = hostA.Host.Services.GetRequiredService<IMeterFactory>();
        IMeterFactory factoryB = hostB.Host.Services.GetRequiredService<IMeterFactory>();
        Assert.NotSame(factoryA, factoryB);
        for (int i = 0; i < 3; i++)
        {
            streamA.Put($"k{i}", "{}");
        }

        streamB.Put("k", "{}");
        await hostA.StartAsync();
        await hostB.StartAsync();
        await hostA.WaitForAllCompleteAsync();
        await hostB.WaitForAllCompleteAsync();

        Assert.Equal(3, received.Where(r => r.Consumer == "meter-a" && ReferenceEquals(r.Scope, factoryA)).Sum(r => r.Value));
        Assert.Equal(1, received.Where(r => r.Consumer == "meter-b" && ReferenceEquals(r.Scope, factoryB)).Sum(r => r.Value));
        Assert.DoesNotContain(received, r => r.Consumer == "meter-a" && !ReferenceEquals(r.Scope, factoryA));
        Assert.All(InstrumentNames, name => Assert.True(published.ContainsKey((factoryA, name)), $"{name} is not on host A's meter"));

        // The factory owns the meter: disposing host B ends its instruments, not host A's.
        await hostB.DisposeAsync();
        Assert.Contains(completed, scope => ReferenceEquals(scope, factoryB));
        Assert.DoesNotContain(completed, scope => ReferenceEquals(scope, factoryA));
    }

    private static string? ConsumerOf(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (KeyValuePair<string, object?> tag in tags)
        {
            if (tag.Key == "consumer")
            {
                return tag.Value as string;
            }
        }

        return null;
    }
}
