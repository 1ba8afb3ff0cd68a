using StreamLanes.Checkpointing;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>
/// The shard's durable key state: built from its lanes at each checkpoint save and saved in the same write; read back
/// when the shard is opened, to park its parked keys again and to pass over the records it knows were complete.
/// </summary>
internal sealed partial class ShardProcessor
{
    // The saved incomplete set the shard resumes with, until a record past its furthest position arrives. Touched by
    // the shard's reader only (records are enqueued one at a time).
    private ShardKeyState? _resume;
    private long _skipped;

    // Guarded by _lock: the last position enqueued (handed to a lane, or passed over as complete). Every record up to it
    // is either in a lane's queue or complete, which is what makes the incomplete set exact.
    private SequenceNumber _lastEnqueued;

    // Guarded by _checkpointGate: the key state as last saved (empty: none), and its size for the gauge.
    private byte[] _savedKeyState = [];
    private int _keyStateBytes;
    private bool _oversizeLogged;

    /// <summary>The size in bytes of the key state last saved with the shard's checkpoint.</summary>
    public int KeyStateBytes => Volatile.Read(ref _keyStateBytes);

    /// <summary>Records passed over on resume because the saved key state knew they were complete.</summary>
    public long SkippedAsComplete => Interlocked.Read(ref _skipped);

    private bool SavesKeyState => Checkpointer is IKeyStateCheckpointer and not StoreShardCheckpointer { KeepsKeyState: false };

    /// <summary>Reads the key state saved with the checkpoint the shard resumes after.</summary>
    /// <exception cref="InvalidDataException">The saved state is broken; the message names where it is kept.</exception>
    private void LoadKeyState(SequenceNumber startAfter)
    {
        _lastEnqueued = startAfter;
        if (Checkpointer is not IKeyStateCheckpointer keyed)
        {
            return;
        }

        if (keyed.InheritedParkedKeys.Count > 0)
        {
            Runtime.InheritParkedKeys(ShardId, keyed.InheritedFrom, keyed.InheritedParkedKeys);
        }

        if (keyed.LoadedKeyState is not { Length: > 0 } bytes)
        {
            return;
        }

        ShardKeyState state;
        try
        {
            state = ShardKeyStateCodec.Decode(bytes);
        }
        catch (InvalidDataException ex)
        {
            // Parked keys cannot be dropped silently (their later records would be handled out of order): stop instead.
            throw new InvalidDataException(
                $"The key state in {keyed.KeyStateLocation} is not valid: {ex.Message} The consumer stops rather than lose parked keys; " +
                "remove the key state (the checkpoint stays valid without it) after releasing or replaying its parked keys.",
                ex);
        }

        _savedKeyState = bytes;
        _keyStateBytes = bytes.Length;
        Runtime.RestoreParkedKeys(ShardId, state.ParkedKeys);
        if (!state.HasIncompleteSet)
        {
            return;
        }

        // The set describes the records after the checkpoint it was saved with, under the lane keys of that run: after
        // another writer moved the checkpoint (a KCL worker keeps this attribute), or another lane key, it proves nothing.
        if (state.Checkpoint == startAfter && state.CustomLaneKey == Runtime.HasCustomLaneKey)
        {
            _resume = state;
            Log.ResumingWithIncompleteSet(Runtime.Logger, Runtime.Name, SafeText.Escape(ShardId), state.IncompleteLanes.Count, SafeText.Escape(state.Checkpoint.ToString()), SafeText.Escape(state.FurthestRead.ToString()));
        }
        else
        {
            Log.IncompleteSetIgnored(Runtime.Logger, Runtime.Name, SafeText.Escape(ShardId), SafeText.Escape(state.Checkpoint.ToString()), SafeText.Escape(startAfter.ToString()));
        }
    }

    /// <summary>Passes over a record the saved incomplete set proves complete: registered and completed at once, never handled.</summary>
    /// <returns>Whether the record was passed over.</returns>
    private bool TrySkipComplete(ShardKeyState resume, StreamRecord record)
    {
        if (record.Position.CompareTo(resume.FurthestRead) > 0)
        {
            _resume = null;
            if (_skipped > 0)
            {
                Log.SkippedCompleteRecords(Runtime.Logger, Runtime.Name, SafeText.Escape(ShardId), _skipped);
            }

            return false;
        }

        if (!resume.IsCertainlyComplete(Runtime.LaneKeyOf(record), record.Position))
        {
            return false;
        }

        lock (_lock)
        {
            Tracker.Complete(Tracker.Register(record.Position));
            _lastEnqueued = record.Position;
        }

        Interlocked.Increment(ref _skipped);
        Runtime.Counters.RecordSkippedAsComplete();
        return true;
    }

    /// <summary>
    /// The shard's key state over <paramref name="checkpoint"/>: the parked keys it saves and, when records past the
    /// checkpoint were read, the furthest position read with each lane's first record after the checkpoint that is
    /// not known complete.
    /// </summary>
    private ShardKeyState BuildKeyState(SequenceNumber checkpoint)
    {
        var lanes = new List<IncompleteLane>();
        SequenceNumber furthest = SequenceNumber.None;
        if (Runtime.MaxKeyStateBytes > 0 && !checkpoint.IsShardEnd)
        {
            lock (_lock)
            {
                furthest = _lastEnqueued;
                if (furthest.CompareTo(checkpoint) > 0)
                {
                    foreach (KeyLane lane in _lanes.Values)
                    {
                        // A lane's records complete in order, so its first record past the checkpoint not completed
                        // yet starts its incomplete part: the records its pump took and has not completed (a done
                        // one counts as incomplete until the tracker has it), then its queue. Records at or before
                        // the checkpoint are complete.
                        foreach (LaneEntry entry in lane.IncompleteEntries())
                        {
                            if (entry.Record.Position.CompareTo(checkpoint) > 0)
                            {
                                lanes.Add(new IncompleteLane(ShardKeyState.HashOf(lane.Key), entry.Record.Position));
                                break;
                            }
                        }
                    }
                }
            }
        }

        return new ShardKeyState
        {
            Checkpoint = checkpoint,
            FurthestRead = furthest,
            CustomLaneKey = Runtime.HasCustomLaneKey,
            IncompleteLanes = lanes,
            ParkedKeys = Runtime.ParkedKeysOf(ShardId),
        };
    }

    /// <summary>Saves the checkpoint with the key state when either changed since the last save (under _checkpointGate).</summary>
    /// <returns>Whether anything was written.</returns>
    private async Task<bool> SaveWithKeyStateAsync(SequenceNumber position, CancellationToken cancellationToken)
    {
        ShardKeyState state = BuildKeyState(position);
        byte[] bytes = [];
        if (!state.IsEmpty)
        {
            (bytes, bool dropped) = ShardKeyStateCodec.Encode(state, Runtime.MaxKeyStateBytes);
            if (dropped)
            {
                Runtime.Counters.KeyStateOversize();
            }

            // Logged once per spell, not at every interval it lasts.
            if (dropped && !_oversizeLogged)
            {
                Log.KeyStateOversize(Runtime.Logger, Runtime.Name, SafeText.Escape(ShardId), state.IncompleteLanes.Count, Runtime.MaxKeyStateBytes);
            }

            _oversizeLogged = dropped;

            if (dropped && state.ParkedKeys.Count == 0)
            {
                // Nothing left but the checkpoint itself: save it alone, as before the key state existed.
                bytes = [];
            }
        }

        if (bytes.Length > ShardKeyStateCodec.MaxEncodedBytes)
        {
            // Saving a part of the parked keys would forget the rest at the next restart or lease move, and a write this
            // large fails in DynamoDB anyway: the checkpoint stays where it was (its records are read again), loudly.
            Runtime.ParkedKeysOverflow(ShardId, state.ParkedKeys.Count, bytes.Length);
            throw new InvalidOperationException(
                $"Shard '{ShardId}' of consumer '{Runtime.Name}' has {state.ParkedKeys.Count} parked keys taking {bytes.Length} bytes, above the "
                + $"{ShardKeyStateCodec.MaxEncodedBytes} bytes its key state may hold; the checkpoint is not saved until parked keys are released or replayed.");
        }

        Runtime.ParkedKeysFit(ShardId);
        if (position == _savedCheckpoint && bytes.AsSpan().SequenceEqual(_savedKeyState))
        {
            return false;
        }

        await ((IKeyStateCheckpointer)Checkpointer).SaveAsync(position, bytes, cancellationToken).ConfigureAwait(false);
        _savedKeyState = bytes;
        Volatile.Write(ref _keyStateBytes, bytes.Length);
        return true;
    }
}
