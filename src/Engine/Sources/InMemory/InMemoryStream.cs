using System.Text;
using StreamLanes.Checkpointing;

namespace StreamLanes;

/// <summary>
/// A multi-shard stream in process memory, shaped like a Kinesis stream: records are assigned to shards by a hash
/// of their partition key, numbered in order per shard, and kept until the stream is dropped. For tests,
/// benchmarks and the demo; read it with <see cref="InMemoryStreamSource"/>.
/// </summary>
/// <remarks>Thread-safe: producers may put while consumers read.</remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711", Justification = "A data stream in the Kinesis sense, not a System.IO.Stream; the name users look for.")]
public sealed class InMemoryStream
{
    private readonly Shard[] _shards;
    private readonly TimeProvider _timeProvider;

    /// <summary>Initializes a stream.</summary>
    /// <param name="name">The stream name.</param>
    /// <param name="shardCount">The number of shards, from 1 to 10,000.</param>
    /// <param name="timeProvider">The clock for arrival times; the system clock when null.</param>
    /// <param name="retainedRecordsPerShard">
    /// Like a stream's retention period: once a shard holds more records, its oldest are dropped (a reader that had
    /// not reached them resumes at the oldest kept, as at Kinesis's trim horizon). Default: keep everything.
    /// </param>
    public InMemoryStream(string name, int shardCount = 1, TimeProvider? timeProvider = null, int retainedRecordsPerShard = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(retainedRecordsPerShard, 1);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(shardCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(shardCount, 10_000);
        Name = name;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _shards = new Shard[shardCount];
        for (int i = 0; i < shardCount; i++)
        {
            _shards[i] = new Shard($"shardId-{i:D12}", retainedRecordsPerShard);
        }

        ShardIds = [.. _shards.Select(static shard => shard.Id)];
    }

    /// <summary>The stream name.</summary>
    public string Name { get; }

    /// <summary>The shard ids, <c>shardId-000000000000</c> onwards.</summary>
    public IReadOnlyList<string> ShardIds { get; }

    /// <summary>The total number of records put.</summary>
    public long Count => _shards.Sum(static shard => (long)shard.Count);

    /// <summary>The shard a partition key maps to (a stable hash, the same in every process).</summary>
    /// <param name="partitionKey">The key.</param>
    /// <returns>The shard's index.</returns>
    public int ShardIndexOf(string partitionKey)
    {
        ArgumentNullException.ThrowIfNull(partitionKey);
        return (int)(StableHash.Fnv1a(partitionKey) % (uint)_shards.Length);
    }

    /// <summary>Appends a record to the shard its key maps to.</summary>
    /// <param name="partitionKey">The partition key.</param>
    /// <param name="data">The payload.</param>
    /// <param name="attributes">Optional attributes.</param>
    /// <returns>The stored record, with its shard and sequence number.</returns>
    public StreamRecord Put(string partitionKey, ReadOnlyMemory<byte> data, IReadOnlyDictionary<string, string>? attributes = null)
        => PutToShard(ShardIndexOf(partitionKey), partitionKey, data, attributes);

    /// <summary>Appends a UTF-8 text record to the shard its key maps to.</summary>
    /// <param name="partitionKey">The partition key.</param>
    /// <param name="text">The payload text.</param>
    /// <returns>The stored record.</returns>
    public StreamRecord Put(string partitionKey, string text) => Put(partitionKey, Encoding.UTF8.GetBytes(text));

    /// <summary>Appends a record to a given shard.</summary>
    /// <param name="shardIndex">The shard's index.</param>
    /// <param name="partitionKey">The partition key.</param>
    /// <param name="data">The payload.</param>
    /// <param name="attributes">Optional attributes.</param>
    /// <returns>The stored record.</returns>
    public StreamRecord PutToShard(int shardIndex, string partitionKey, ReadOnlyMemory<byte> data, IReadOnlyDictionary<string, string>? attributes = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(shardIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(shardIndex, _shards.Length);
        return _shards[shardIndex].Append(this, partitionKey, data, attributes, _timeProvider.GetUtcNow());
    }

    /// <summary>Appends records made elsewhere (e.g. with an older arrival time), renumbering none: each must belong to this stream, in shard order.</summary>
    /// <param name="record">The record; its sequence number must be the shard's next (its count + 1).</param>
    public void Append(StreamRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        int index = Array.FindIndex(_shards, shard => shard.Id == record.ShardId);
        if (index < 0 || record.StreamName != Name)
        {
            throw new ArgumentException($"Record {record} does not belong to stream '{Name}'.", nameof(record));
        }

        _shards[index].AppendExisting(record);
    }

    /// <summary>Closes every shard: readers reach its end, checkpoint <c>SHARD_END</c> and stop. Later puts fail.</summary>
    public void Seal()
    {
        foreach (Shard shard in _shards)
        {
            shard.Seal();
        }
    }

    /// <summary>The records of a shard, in order.</summary>
    /// <param name="shardIndex">The shard's index.</param>
    /// <returns>A copy of the records the shard still keeps (see the retention parameter).</returns>
    public IReadOnlyList<StreamRecord> Records(int shardIndex) => _shards[shardIndex].Snapshot();

    internal Shard GetShard(int index) => _shards[index];

    internal int ShardCount => _shards.Length;

    internal sealed class Shard(string id, int retained)
    {
        private readonly Lock _lock = new();
        private readonly List<StreamRecord> _records = [];

        // The number of records dropped from the front by retention: _records[0] is record number _trimmed + 1.
        private int _trimmed;
        private TaskCompletionSource _appended = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private bool _sealed;

        public string Id { get; } = id;

        public int Count
        {
            get
            {
                lock (_lock)
                {
                    return _trimmed + _records.Count;
                }
            }
        }

        public StreamRecord Append(InMemoryStream stream, string partitionKey, ReadOnlyMemory<byte> data, IReadOnlyDictionary<string, string>? attributes, DateTimeOffset now)
        {
            TaskCompletionSource appended;
            StreamRecord record;
            lock (_lock)
            {
                ThrowIfSealed();
                record = new StreamRecord(SourceKind.InMemory, stream.Name, Id, SequenceNumber.FromInteger((ulong)(_trimmed + _records.Count) + 1), partitionKey, data, now, attributes);
                _records.Add(record);
                Trim();
                appended = _appended;
                _appended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            appended.TrySetResult();
            return record;
        }

        public void AppendExisting(StreamRecord record)
        {
            TaskCompletionSource appended;
            lock (_lock)
            {
                ThrowIfSealed();
                if (record.SubSequenceNumber != 0 || record.Position != SequenceNumber.FromInteger((ulong)(_trimmed + _records.Count) + 1))
                {
                    throw new ArgumentException($"Record {record} is not shard {Id}'s next record ({_trimmed + _records.Count + 1}).", nameof(record));
                }

                _records.Add(record);
                Trim();
                appended = _appended;
                _appended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            appended.TrySetResult();
        }

        public bool IsSealed
        {
            get
            {
                lock (_lock)
                {
                    return _sealed;
                }
            }
        }

        public void Seal()
        {
            TaskCompletionSource appended;
            lock (_lock)
            {
                _sealed = true;
                appended = _appended;
            }

            appended.TrySetResult();
        }

        /// <summary>Copies up to <paramref name="buffer"/>'s length of records from record number <paramref name="index"/> + 1 on (or the oldest kept).</summary>
        /// <returns>
        /// The number copied, the index after them, whether the shard is sealed and read to its end, a task that completes
        /// on the next append, and whether <paramref name="index"/> lies beyond the shard's last record (a checkpoint
        /// from another stream of the same name: nothing is copied).
        /// </returns>
        public (int Count, long Next, bool Sealed, Task Appended, bool BeyondEnd) Read(long index, StreamRecord[] buffer)
        {
            lock (_lock)
            {
                if (index > (long)_trimmed + _records.Count)
                {
                    return (0, index, false, _appended.Task, true);
                }

                int from = (int)Math.Max(0, index - _trimmed);
                int count = Math.Max(0, Math.Min(buffer.Length, _records.Count - from));
                _records.CopyTo(from, buffer, 0, count);
                long next = (long)_trimmed + from + count;
                return (count, next, _sealed && from + count >= _records.Count, _appended.Task, false);
            }
        }

        private void Trim()
        {
            if (_records.Count > retained)
            {
                // Drop a tenth at a time so that trimming costs O(1) per record.
                int drop = Math.Max(_records.Count - retained, retained / 10);
                drop = Math.Min(drop, _records.Count);
                _records.RemoveRange(0, drop);
                _trimmed += drop;
            }
        }

        public IReadOnlyList<StreamRecord> Snapshot()
        {
            lock (_lock)
            {
                return [.. _records];
            }
        }

        private void ThrowIfSealed()
        {
            if (_sealed)
            {
                throw new InvalidOperationException($"Shard {Id} is sealed; no record can be added.");
            }
        }
    }
}
