using StreamLanes.Checkpointing;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>
/// The runtime's parked keys as durable state: each parked key remembers the shard whose record parked it, so that
/// shard's checkpoint saves it (in the same fenced write) and whoever resumes the shard restores it.
/// </summary>
internal sealed partial class StreamConsumerRuntime
{
    // Guarded by itself for writes, together with _parkedKeys (the lock-free view the record path reads).
    private readonly Dictionary<string, ParkedKey> _parkedOrigins = new(StringComparer.Ordinal);

    /// <summary>The shards being processed.</summary>
    internal ICollection<ShardProcessor> Shards => _shards.Values;

    /// <summary>Whether the consumer parks keys (<see cref="KeyFailureMode.ParkKey"/>): a source without checkpoints then keeps them elsewhere.</summary>
    internal bool ParksKeys => _options.FailureMode == KeyFailureMode.ParkKey;

    /// <summary>Whether lanes are keyed by a custom lane key (<c>WithLaneKey</c>) rather than the partition key.</summary>
    internal bool HasCustomLaneKey => _laneKey is not null;

    /// <summary>The most bytes a shard's saved key state may take before its incomplete set is left out (0: never saved).</summary>
    internal int MaxKeyStateBytes => _options.MaxKeyStateBytes;

    /// <summary>Every parked key with the shard that saves it and the dead letter that parked it.</summary>
    internal IReadOnlyList<ParkedKey> ParkedKeyOrigins
    {
        get
        {
            lock (_parkedOrigins)
            {
                return [.. _parkedOrigins.Values];
            }
        }
    }

    /// <summary>
    /// A shard's parked keys no longer fit its key state (<see cref="ShardKeyStateCodec.MaxEncodedBytes"/>): counted,
    /// logged once per spell, and the consumer unhealthy until they fit again.
    /// </summary>
    internal void ParkedKeysOverflow(string shardId, int keys, int bytes)
    {
        Counters.ParkedKeysOverflow();
        if (_health.ParkedKeysOverflow(shardId, keys, bytes))
        {
            Log.ParkedKeysOverflow(Logger, Name, SafeText.Escape(shardId), keys, bytes, ShardKeyStateCodec.MaxEncodedBytes);
        }
    }

    /// <summary>A shard's key state was saved: ends an overflow spell (cheap when there was none).</summary>
    internal void ParkedKeysFit(string shardId)
    {
        if (_health.ParkedKeysFit(shardId))
        {
            Log.ParkedKeysFitAgain(Logger, Name, SafeText.Escape(shardId));
        }
    }

    /// <summary>The parked keys a shard's checkpoint carries, ordered by key (so that an unchanged set encodes alike).</summary>
    internal List<ParkedKeyState> ParkedKeysOf(string shardId)
    {
        var keys = new List<ParkedKeyState>();
        lock (_parkedOrigins)
        {
            foreach (ParkedKey parked in _parkedOrigins.Values)
            {
                if (parked.ShardIds.Contains(shardId))
                {
                    keys.Add(parked.State);
                }
            }
        }

        keys.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return keys;
    }

    /// <summary>The number of parked keys a shard's checkpoint carries.</summary>
    internal int ParkedKeyCountOf(string shardId)
    {
        lock (_parkedOrigins)
        {
            return _parkedOrigins.Values.Count(parked => parked.ShardIds.Contains(shardId));
        }
    }

    /// <summary>Parks the keys a resumed shard's saved state lists; a key parked already stays as it is.</summary>
    internal void RestoreParkedKeys(string shardId, IReadOnlyList<ParkedKeyState> keys)
    {
        foreach (ParkedKeyState key in keys)
        {
            if (Park(key.Key, shardId, key.Position, key.DeadLetterId))
            {
                Log.KeyParkedFromState(Logger, Name, SafeText.Escape(key.Key), SafeText.Escape(shardId), SafeText.Escape(key.Position.ToString()));
            }
        }
    }

    /// <summary>
    /// A child shard takes over parked keys from its parents (at their <c>SHARD_END</c>): its checkpoints carry them
    /// from now on, and the parents (closed) no longer do. A key parked already (its parent ran in this process) keeps
    /// its dead letter and gains the child.
    /// </summary>
    internal void InheritParkedKeys(string shardId, IReadOnlyList<string> parents, IReadOnlyList<ParkedKeyState> keys)
    {
        lock (_parkedOrigins)
        {
            foreach (ParkedKeyState key in keys)
            {
                if (_parkedOrigins.TryGetValue(key.Key, out ParkedKey? parked))
                {
                    _parkedOrigins[key.Key] = parked with { ShardIds = [.. parked.ShardIds.Where(id => !parents.Contains(id)).Append(shardId).Distinct()] };
                }
                else if (_parkedKeys.TryAdd(key.Key, key.Position.Value ?? ""))
                {
                    _parkedOrigins[key.Key] = new ParkedKey([shardId], key);
                    Log.KeyParkedFromState(Logger, Name, SafeText.Escape(key.Key), SafeText.Escape(shardId), SafeText.Escape(key.Position.ToString()));
                }
            }
        }
    }

    private bool Park(string key, string shardId, SequenceNumber position, string deadLetterId)
    {
        lock (_parkedOrigins)
        {
            if (!_parkedKeys.TryAdd(key, position.Value ?? ""))
            {
                return false;
            }

            _parkedOrigins[key] = new ParkedKey([shardId], new ParkedKeyState(key, position, deadLetterId));
            return true;
        }
    }

    private bool Unpark(string key)
    {
        ParkedKey? origin;
        lock (_parkedOrigins)
        {
            if (!_parkedKeys.TryRemove(key, out _))
            {
                return false;
            }

            _parkedOrigins.Remove(key, out origin);
        }

        // Durably at once rather than at the next checkpoint interval: a crash in between would park the key again.
        foreach (string shardId in origin?.ShardIds ?? [])
        {
            if (_shards.TryGetValue(shardId, out ShardProcessor? shard))
            {
                _ = SaveReleasedAsync(shard);
            }
        }

        return true;
    }

    private async Task SaveReleasedAsync(ShardProcessor shard)
    {
        try
        {
            await shard.CheckpointAsync(HardStopToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The next periodic checkpoint saves it; until then a restart would find the key still parked (safe).
            Log.CheckpointFailed(Logger, SafeText.ForLog(ex), Name, SafeText.Escape(shard.ShardId));
        }
        catch (OperationCanceledException)
        {
        }
    }
}

/// <summary>A parked key, with the shards whose checkpoints save it.</summary>
/// <param name="ShardIds">The shard that parked it, or the children that took it over (several when the key's shard is unknown).</param>
/// <param name="State">The key, the position of the record that parked it, and its dead letter's id.</param>
internal sealed record ParkedKey(IReadOnlyList<string> ShardIds, ParkedKeyState State);
