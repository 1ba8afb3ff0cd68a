namespace StreamLanes;

/// <summary>Read-only queries on a running consumer for operators' tools (the dashboard): shards, blocked and parked keys.</summary>
public static class StreamConsumerInspectionExtensions
{
    /// <summary>The default for <c>maxKeys</c>: 200.</summary>
    public const int DefaultMaxKeys = 200;

    /// <summary>
    /// Takes a snapshot of the consumer: its status, source, shards (with lanes active and blocked) and the keys that are
    /// blocked or parked, with the failing record's latest error and attempt count. Costs one pass over the lanes held
    /// now (each shard's lock taken briefly), never a read of the source or the dead-letter store.
    /// </summary>
    /// <param name="consumer">The consumer (resolved by name from the host's services).</param>
    /// <param name="maxKeys">At most this many blocked keys and this many parked keys are listed (1 to 10,000). Default: <see cref="DefaultMaxKeys"/>.</param>
    /// <returns>The snapshot.</returns>
    /// <exception cref="ArgumentException">The consumer is not one registered with <c>AddStreamConsumer</c>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxKeys"/> is out of range.</exception>
    public static StreamConsumerDetails Inspect(this IStreamConsumer consumer, int maxKeys = DefaultMaxKeys)
    {
        ArgumentNullException.ThrowIfNull(consumer);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxKeys, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxKeys, 10_000);
        return consumer is StreamConsumerRuntime runtime
            ? runtime.Inspect(maxKeys)
            : throw new ArgumentException("Only consumers registered with AddStreamConsumer can be inspected.", nameof(consumer));
    }
}
