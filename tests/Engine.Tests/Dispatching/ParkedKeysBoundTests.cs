using Microsoft.Extensions.Diagnostics.HealthChecks;
using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.Dispatching;

/// <summary>
/// Parked keys are never dropped from the saved state to fit a bound: above the key state's hard limit the checkpoint
/// is held (its records are read again after a restart), counted, and the consumer is unhealthy until keys are released.
/// </summary>
public sealed class ParkedKeysBoundTests
{
    [Fact]
    public async Task Parked_keys_over_the_bound_hold_the_checkpoint_and_make_the_consumer_unhealthy_until_released()
    {
        var stream = new InMemoryStream("orders");
        var store = new InMemoryCheckpointStore();
        var handler = new RecordingHandler { Behaviour = static (record, _, _) => record.PartitionKey.StartsWith("bad-", StringComparison.Ordinal) ? ValueTask.FromException(new InvalidOperationException("fails")) : ValueTask.CompletedTask };
        await using ConsumerHarness harness = ConsumerHarness.Create(
            stream,
            handler,
            options =>
            {
                options.FailureMode = KeyFailureMode.ParkKey;
                options.MaxAttempts = 1;
            },
            checkpoints: store);
        using var overflows = new CounterSum(harness.Host.Services, "streamlanes.keystate.parked_overflow");

        // 600 parked keys of about 560 bytes each (key, position, dead-letter id): about 330 KB, over the 256 KiB bound.
        string padding = new('x', 500);
        var parkedAt = new Dictionary<string, SequenceNumber>(StringComparer.Ordinal);
        for (int i = 0; i < 600; i++)
        {
            StreamRecord record = stream.Put($"bad-{i:D4}-{padding}", "{}");
            parkedAt[record.PartitionKey] = record.Position;
        }

        StreamRecord tail = stream.Put("good", "{}");
        await harness.StartAsync();
        await harness.WaitUntilAsync(status => status.DeadLettered == 600 && status.Handled == 1);
        await WaitAsync(() => harness.Runtime.EvaluateHealth().Status == HealthStatus.Unhealthy && overflows.Total > 0);
        HealthCheckResult health = harness.Runtime.EvaluateHealth();
        Assert.Contains("parked keys exceed the 262144 bytes", health.Description, StringComparison.Ordinal);

        // Nothing forgotten: every parked key is in the saved state, or its record comes after the saved checkpoint
        // (so a restart reads it again and parks the key again).
        (SequenceNumber checkpoint, byte[]? saved) = Saved(store);
        Assert.True(checkpoint.CompareTo(tail.Position) < 0, $"checkpoint {checkpoint} moved to the end ({tail.Position}) with parked keys unsaved");
        var savedKeys = saved is null ? [] : ShardKeyStateCodec.Decode(saved).ParkedKeys.Select(k => k.Key).ToHashSet(StringComparer.Ordinal);
        Assert.All(parkedAt, parked => Assert.True(savedKeys.Contains(parked.Key) || parked.Value.CompareTo(checkpoint) > 0, $"{parked.Key[..8]} forgotten"));

        // Released below the bound: the checkpoint moves to the end with exactly the keys still parked, and health recovers.
        foreach (string key in parkedAt.Keys.Take(300))
        {
            Assert.True(harness.Consumer.ReleaseKey(key));
        }

        await WaitAsync(() => harness.Runtime.EvaluateHealth().Status == HealthStatus.Healthy
            && Saved(store) is { KeyState: { } state } saved && saved.Position == tail.Position && ShardKeyStateCodec.Decode(state).ParkedKeys.Count == 300);
        (_, saved) = Saved(store);
        Assert.Equal(parkedAt.Keys.Skip(300).Order(StringComparer.Ordinal), ShardKeyStateCodec.Decode(saved!).ParkedKeys.Select(k => k.Key));
        Assert.True(saved!.Length <= ShardKeyStateCodec.MaxEncodedBytes);
    }

    private static (SequenceNumber Position, byte[]? KeyState) Saved(InMemoryCheckpointStore store)
    {
        if (store.Checkpoints.Count == 0)
        {
            return (SequenceNumber.None, null);
        }

        CheckpointKey key = Assert.Single(store.Checkpoints).Key;
        return (store.Checkpoints[key], store.KeyStates.GetValueOrDefault(key));
    }

    private static async Task WaitAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(20, timeout.Token);
        }
    }
}
