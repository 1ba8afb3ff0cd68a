using System.Diagnostics.Metrics;
using StreamLanes.Sinks.Tests.Envelope;

namespace StreamLanes.Sinks.Tests.Telemetry;

public sealed class SinkTelemetryTests
{
    private sealed class ManualClock : TimeProvider
    {
        public long Ticks { get; set; } = 1;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Ticks;
    }

    [Fact]
    public void Written_failed_and_the_oldest_pending_write_are_measured_per_sink_and_destination()
    {
        string destination = $"queue-{Guid.NewGuid():N}";
        var counters = new System.Collections.Concurrent.ConcurrentBag<(string Name, long Value, string? Consumer)>();
        var gauges = new System.Collections.Concurrent.ConcurrentBag<double>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "StreamLanes" && instrument.Name.StartsWith("streamlanes.dead_letter_sink.", StringComparison.Ordinal))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (Tag(tags, "destination") == destination)
            {
                counters.Add((instrument.Name, value, Tag(tags, "consumer")));
            }
        });
        listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            if (Tag(tags, "destination") == destination)
            {
                gauges.Add(value);
            }
        });
        listener.Start();

        var clock = new ManualClock();
        using var telemetry = new SinkTelemetry("sqs", destination, clock);
        DeadLetterEnvelope first = DeadLetterEnvelopeTests.Sample([1], "k1", "1");
        DeadLetterEnvelope second = DeadLetterEnvelopeTests.Sample([2], "k2", "2");

        telemetry.Begin(first);
        clock.Ticks += TimeSpan.FromSeconds(5).Ticks;
        telemetry.Begin(second);
        telemetry.Failed(first, cancelled: false);
        clock.Ticks += TimeSpan.FromSeconds(2).Ticks;
        telemetry.Begin(first); // the engine's retry of the same dead letter keeps its original start
        listener.RecordObservableInstruments();
        Assert.Equal(7, gauges.Max());

        telemetry.Succeeded(first);
        gauges.Clear();
        listener.RecordObservableInstruments();
        Assert.Equal(2, gauges.Single());

        telemetry.Failed(second, cancelled: true); // given up on stop: no longer pending, not counted as failed
        gauges.Clear();
        listener.RecordObservableInstruments();
        Assert.Equal(0, gauges.Single());

        Assert.Equal(1, counters.Where(c => c.Name == "streamlanes.dead_letter_sink.written").Sum(c => c.Value));
        Assert.Equal(1, counters.Where(c => c.Name == "streamlanes.dead_letter_sink.failed").Sum(c => c.Value));
        Assert.All(counters, c => Assert.Equal("orders", c.Consumer));
    }

    private static string? Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string name)
    {
        foreach (KeyValuePair<string, object?> tag in tags)
        {
            if (tag.Key == name)
            {
                return tag.Value as string;
            }
        }

        return null;
    }
}
