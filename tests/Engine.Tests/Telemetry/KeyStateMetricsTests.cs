using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.Telemetry;

/// <summary>The key state's telemetry: parked keys and state size per shard, and the size-bound fallback counted.</summary>
public sealed class KeyStateMetricsTests
{
    [Fact]
    public async Task Parked_keys_and_state_size_are_reported_per_shard_and_the_size_fallback_is_counted()
    {
        var stream = new InMemoryStream("orders", shardCount: 2);
        var handler = new RecordingHandler
        {
            Behaviour = static (record, _, _) => record.PartitionKey is "poison" or "stuck" ? ValueTask.FromException(new InvalidOperationException("fails")) : ValueTask.CompletedTask,
        };
        await using ConsumerHarness harness = ConsumerHarness.Create(stream, handler, options =>
        {
            options.FailureMode = KeyFailureMode.ParkKey;
            options.MaxAttempts = 1;

            // Too small for any incomplete set: every save with one falls back to the plain checkpoint.
            options.MaxKeyStateBytes = 16;
        });
        IMeterFactory factory = harness.Host.Services.GetRequiredService<IMeterFactory>();
        var gauges = new ConcurrentDictionary<(string Instrument, string Shard), long>();
        long oversize = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == StreamLanesMetrics.MeterName && instrument.Meter.Scope == factory)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? shard = null;
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                shard = tag.Key == "shard" ? tag.Value as string : shard;
            }

            if (instrument.Name == "streamlanes.keystate.oversize")
            {
                Interlocked.Add(ref oversize, value);
            }
            else if (shard is not null)
            {
                gauges[(instrument.Name, shard)] = value;
            }
        });
        listener.Start();

        StreamRecord poison = stream.Put("poison", "{}");
        string otherShard = stream.ShardIds.Single(id => id != poison.ShardId);
        await harness.StartAsync();
        await harness.WaitUntilAsync(status => status.DeadLettered == 1);
        await WaitAsync(() =>
        {
            listener.RecordObservableInstruments();
            return gauges.GetValueOrDefault(("streamlanes.keystate.parked_keys", poison.ShardId)) == 1
                && gauges.GetValueOrDefault(("streamlanes.keystate.size", poison.ShardId)) > 0;
        });
        listener.RecordObservableInstruments();
        Assert.Equal(0, gauges.GetValueOrDefault(("streamlanes.keystate.parked_keys", otherShard)));
        Assert.Equal(0, gauges.GetValueOrDefault(("streamlanes.keystate.size", otherShard)));
    }

    [Fact]
    public async Task An_incomplete_set_over_the_bound_is_left_out_of_the_checkpoint_and_counted()
    {
        var stream = new InMemoryStream("orders");
        var handler = new RecordingHandler { Behaviour = static (record, _, _) => record.PartitionKey == "stuck" ? ValueTask.FromException(new InvalidOperationException("fails")) : ValueTask.CompletedTask };
        var store = new StreamLanes.Checkpointing.InMemoryCheckpointStore();
        await using ConsumerHarness harness = ConsumerHarness.Create(
            stream,
            handler,
            options => options.MaxKeyStateBytes = 16,
            build: b => b.WithFailureMode(KeyFailureMode.RetryUntilSuccess),
            checkpoints: store);
        using var oversize = new CounterSum(harness.Host.Services, "streamlanes.keystate.oversize");

        stream.Put("stuck", "{}");
        for (int i = 0; i < 20; i++)
        {
            stream.Put($"k{i}", "{}");
        }

        await harness.StartAsync();
        await harness.WaitUntilAsync(status => status.Handled >= 20);
        await WaitAsync(() => oversize.Total > 0);

        // Nothing but the over-long set to save: no state at all, the plain (here: still empty) checkpoint alone.
        Assert.Empty(store.KeyStates);
    }

    private static async Task WaitAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            await Task.Delay(10, timeout.Token);
        }
    }
}
