using System.Diagnostics;

namespace StreamLanes.Checkpointing;

/// <summary>
/// Tracks one shard's records from arrival to completion and yields the safe checkpoint: the highest position
/// below which every registered record is complete.
/// </summary>
/// <remarks>
/// Only incomplete records are kept, in a doubly linked list threaded through a pooled array, each remembering the
/// position registered just before it. The oldest incomplete record's predecessor is therefore the safe
/// checkpoint, and completed records cost nothing, however long one record stays incomplete: memory follows the
/// number of records in flight (which the engine's backpressure bounds), not the distance to the checkpoint.
/// Register, complete and reading the checkpoint are O(1) and allocate nothing once the pool has grown.
/// Thread-safe: registration and completion may come from different threads. Its lock may be the caller's own
/// (<see cref="CheckpointTracker(SequenceNumber, Lock, int)"/>): a shard registers and completes while it holds its
/// lock anyway, so those two operations then take no lock of their own (re-entering a held <see cref="Lock"/> is its
/// slow path: a thread-id lookup and a recursion count, about a fifth of a pump's time per record, bench/RESULTS.md
/// §17), and the two sides of a busy shard (its reader, its lanes' pumps) move one contended lock between cores
/// instead of two.
/// </remarks>
internal sealed class CheckpointTracker
{
    private const int Nil = -1;

    private readonly Lock _lock;

    // True when the lock is the owner's: Register and Complete are then called holding it and do not take it again.
    private readonly bool _callerHoldsLock;

    // Invariant: entries reachable from _head through Next are exactly the incomplete records, in registration order;
    // the rest form the free list through Next, starting at _free.
    private Entry[] _entries;
    private int _head = Nil;
    private int _tail = Nil;
    private int _free = Nil;
    private int _used;
    private int _pending;
    private long _registeredCount;
    private long _completedCount;
    private SequenceNumber _lastRegistered;

    /// <summary>Initializes a tracker for a shard whose records start after <paramref name="start"/>.</summary>
    /// <param name="start">The shard's stored checkpoint, or <see cref="SequenceNumber.None"/>.</param>
    /// <param name="initialCapacity">The initial size of the entry pool; it doubles as needed.</param>
    public CheckpointTracker(SequenceNumber start, int initialCapacity = 64)
        : this(start, new Lock(), initialCapacity)
    {
        _callerHoldsLock = false;
    }

    /// <summary>
    /// Initializes a tracker that guards its state with <paramref name="sharedLock"/>, a lock its owner also takes:
    /// <see cref="Register"/> and <see cref="Complete(long)"/> must be called holding it (they do not take it); the
    /// reads take it (calling them while holding it is allowed: it is re-entrant).
    /// </summary>
    /// <param name="start">The shard's stored checkpoint, or <see cref="SequenceNumber.None"/>.</param>
    /// <param name="sharedLock">The owner's lock.</param>
    /// <param name="initialCapacity">The initial size of the entry pool; it doubles as needed.</param>
    public CheckpointTracker(SequenceNumber start, Lock sharedLock, int initialCapacity = 64)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(initialCapacity);
        _lock = sharedLock ?? throw new ArgumentNullException(nameof(sharedLock));
        _callerHoldsLock = true;
        _entries = new Entry[initialCapacity];
        _lastRegistered = start;
    }

    /// <summary>The number of registered records not yet completed.</summary>
    public int PendingCount => Volatile.Read(ref _pending);

    /// <summary>The number of records registered since the tracker was created.</summary>
    public long RegisteredCount => Interlocked.Read(ref _registeredCount);

    /// <summary>The number of records completed since the tracker was created.</summary>
    public long CompletedCount => Interlocked.Read(ref _completedCount);

    /// <summary>The position of the last registered record.</summary>
    public SequenceNumber LastRegistered
    {
        get
        {
            lock (_lock)
            {
                return _lastRegistered;
            }
        }
    }

    /// <summary>
    /// The highest position at or below which every registered record is complete; the tracker's start position
    /// while the first record is still incomplete.
    /// </summary>
    public SequenceNumber SafeCheckpoint => Snapshot().Position;

    /// <summary>
    /// The safe checkpoint together with how many of the registered records it covers (all records registered
    /// before the oldest incomplete one), read atomically.
    /// </summary>
    /// <returns>The position and the number of records at or below it.</returns>
    public (SequenceNumber Position, long CoveredCount) Snapshot()
    {
        lock (_lock)
        {
            return _head == Nil
                ? (_lastRegistered, _registeredCount)
                : (_entries[_head].Predecessor, _entries[_head].Ordinal);
        }
    }

    /// <summary>Registers a record in arrival order.</summary>
    /// <param name="position">The record's position; it must come after every position registered before.</param>
    /// <returns>A token to pass to <see cref="Complete(long)"/> once.</returns>
    /// <exception cref="ArgumentException">The position does not come after the previous one.</exception>
    public long Register(SequenceNumber position)
    {
        if (_callerHoldsLock)
        {
            Debug.Assert(_lock.IsHeldByCurrentThread, "Register is called holding the owner's lock.");
            return RegisterHeld(position);
        }

        lock (_lock)
        {
            return RegisterHeld(position);
        }
    }

    private long RegisterHeld(SequenceNumber position)
    {
        if (position.CompareTo(_lastRegistered) <= 0)
        {
            throw new ArgumentException(
                $"Records must be registered in sequence order: {position} does not come after {_lastRegistered}.",
                nameof(position));
        }

        int index = Allocate();
        ref Entry entry = ref _entries[index];
        entry.Predecessor = _lastRegistered;
        entry.Ordinal = _registeredCount;
        entry.Previous = _tail;
        entry.Next = Nil;
        entry.Generation++;
        entry.Pending = true;
        if (_tail == Nil)
        {
            _head = index;
        }
        else
        {
            _entries[_tail].Next = index;
        }

        _tail = index;
        _lastRegistered = position;
        _pending++;
        _registeredCount++;
        return ((long)entry.Generation << 32) | (uint)index;
    }

    /// <summary>Marks a registered record complete (handled, or durably dead-lettered). Order does not matter.</summary>
    /// <param name="token">The token <see cref="Register"/> returned.</param>
    /// <exception cref="InvalidOperationException">The token was already completed or never issued.</exception>
    public void Complete(long token)
    {
        if (_callerHoldsLock)
        {
            Debug.Assert(_lock.IsHeldByCurrentThread, "Complete is called holding the owner's lock.");
            CompleteHeld(token);
            return;
        }

        lock (_lock)
        {
            CompleteHeld(token);
        }
    }

    private void CompleteHeld(long token)
    {
        int index = (int)(uint)token;
        int generation = (int)(token >> 32);
        if ((uint)index >= (uint)_used || !_entries[index].Pending || _entries[index].Generation != generation)
        {
            throw new InvalidOperationException("This record was already completed, or the token is not this tracker's.");
        }

        ref Entry entry = ref _entries[index];
        if (entry.Previous == Nil)
        {
            _head = entry.Next;
        }
        else
        {
            _entries[entry.Previous].Next = entry.Next;
        }

        if (entry.Next == Nil)
        {
            _tail = entry.Previous;
        }
        else
        {
            _entries[entry.Next].Previous = entry.Previous;
        }

        entry.Pending = false;
        entry.Predecessor = default;
        entry.Next = _free;
        _free = index;
        _pending--;
        _completedCount++;
    }

    private int Allocate()
    {
        if (_free != Nil)
        {
            int index = _free;
            _free = _entries[index].Next;
            return index;
        }

        if (_used == _entries.Length)
        {
            Array.Resize(ref _entries, _entries.Length * 2);
        }

        return _used++;
    }

    private struct Entry
    {
        public SequenceNumber Predecessor;
        public long Ordinal;
        public int Previous;
        public int Next;
        public int Generation;
        public bool Pending;
    }
}
