using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.Telemetry;

public sealed class HealthAndMetricsTests
{
    [Fact]
    public async Task Health_is_unhealthy_while_the_sink_keeps_failing_and_healthy_after_it_recovers()
    {
        var stream = new InMemoryStream("orders");
        var sink = new FlakySink { Failing = true };
        var handler = new RecordingHandler { Behaviour = static (_, _, _) => ValueTask.FromException(new InvalidOperationException()) };
        await using var harness = ConsumerHarness.Create(stream, handler, options =>
        {
            options.MaxAttempts = 1;
            options.SinkFailuresBeforeUnhealthy = 3;
        }, sink: sink);
        HealthCheckService health = harness.Host.Services.GetRequiredService<HealthCheckService>();
        stream.Put("k", "{}");
        await harness.StartAsync();
        await harness.WaitUntilAsync(_ => sink.Attempts >= 3);
        HealthReport failing = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Unhealthy, failing.Entries["streamlanes-orders"].Status);
        Assert.Contains("dead-letter sink failed", failing.Entries["streamlanes-orders"].Description);

        sink.Failing = false;
        await harness.WaitForAllCompleteAsync();
        HealthReport recovered = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Healthy, recovered.Entries["streamlanes-orders"].Status);
    }

    [Fact]
    public async Task Health_is_unhealthy_when_no_checkpoint_was_saved_for_too_long()
    {
        var clock = new ShiftableClock();
        var stream = new InMemoryStream("orders");
        var handler = new RecordingHandler { Behaviour = static async (_, _, token) => await Task.Delay(Timeout.Infinite, token) };
        await using var harness = ConsumerHarness.Create(
            stream,
            handler,
            options =>
            {
                options.CheckpointInterval = TimeSpan.FromMilliseconds(20);
                options.MaxCheckpointAge = TimeSpan.FromMinutes(5);
                options.AttemptTimeout = null;
                options.DrainTimeout = TimeSpan.Zero;
            },
            build: consumer => consumer.Services.AddSingleton<TimeProvider>(clock));
        stream.Put("stuck", "{}");
        await harness.StartAsync();
        await harness.WaitUntilAsync(status => status.CheckpointLag > 0);
        HealthCheckService health = harness.Host.Services.GetRequiredService<HealthCheckService>();
        HealthReport first = await health.CheckHealthAsync();
        Assert.True(first.Status == HealthStatus.Healthy, first.Entries["streamlanes-orders"].Description);

        clock.Advance(TimeSpan.FromMinutes(6));
        HealthReport report = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Unhealthy, report.Status);
        Assert.Contains("no checkpoint saved", report.Entries["streamlanes-orders"].Description);
    }

    [Fact]
    public async Task Metrics_count_received_handled_retried_and_dead_lettered_records_per_consumer()
    {
        var measurements = new System.Collections.Concurrent.ConcurrentBag<(string Name, long Value, string? Consumer, string? Reason)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == StreamLanesMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? consumer = null, reason = null;
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == "consumer")
                {
                    consumer = tag.Value as string;
                }
                else if (tag.Key == "reason")
                {
                    reason = tag.Value as string;
                }
            }

            measurements.Add((instrument.Name, value, consumer, reason));
        });
        listener.Start();

        var stream = new InMemoryStream("orders");
        var handler = new RecordingHandler { Behaviour = static (record, _, _) => record.PartitionKey == "bad" ? ValueTask.FromException(new InvalidOperationException()) : ValueTask.CompletedTask };
        await using var harness = ConsumerHarness.Create(stream, handler, options => options.MaxAttempts = 3, name: "metrics-probe");
        for (int i = 0; i < 10; i++)
        {
            stream.Put($"k{i}", "{}");
        }

        stream.Put("bad", "{}");
        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();
        listener.RecordObservableInstruments();

        long Sum(string name) => measurements.Where(m => m.Name == name && m.Consumer == "metrics-probe").Sum(m => m.Value);
        Assert.Equal(11, Sum("streamlanes.records.received"));
        Assert.Equal(10, Sum("streamlanes.records.handled"));
        Assert.Equal(2, Sum("streamlanes.records.retried"));
        Assert.Equal(1, Sum("streamlanes.records.dead_lettered"));
        Assert.Contains(measurements, m => m.Name == "streamlanes.records.dead_lettered" && m.Reason == "RetriesExhausted");
        Assert.Contains(measurements, m => m.Name == "streamlanes.records.buffered" && m.Consumer == "metrics-probe");
    }
}
