using System.Collections.Concurrent;
using System.Text;
using StreamLanes.Checkpointing;

namespace StreamLanes.Engine.Tests.Sources.Contract;

/// <summary>
/// What every <see cref="IStreamSource"/> must do, run against each source through a recording host (the in-memory
/// source here; the AWS sources on their emulators in the integration tests, which link this file): the lifecycle
/// start → stop reading → release, every record enqueued once and in order per shard, nothing enqueued once
/// <see cref="IStreamSource.StopReadingAsync"/> returned, and a released source's shards read by the next one at once.
/// </summary>
public abstract class StreamSourceContract
{
    /// <summary>Bounds a wait for progress; loose for a busy machine, far below any lease expiry the sources use.</summary>
    protected static readonly TimeSpan Progress = TimeSpan.FromSeconds(30);

    internal abstract Task<ContractStream> CreateStreamAsync(int shards);

    [Fact]
    public async Task Every_record_is_enqueued_once_in_order_per_shard_and_nothing_after_stop_reading()
    {
        await using ContractStream stream = await CreateStreamAsync(shards: 2);
        string[] keys = [.. Enumerable.Range(0, 60).Select(i => $"key-{i % 7}")];
        await stream.PutAsync(keys);

        var host = new RecordingSourceHost(stream.PayloadOf);
        await using (ContractSource source = stream.CreateSource("worker-1"))
        {
            await source.Source.StartAsync(host, default);
            await host.WaitForAsync(keys.Length);
            await source.Source.StopReadingAsync(new CancellationTokenSource(Progress).Token);
            host.MarkStopped();

            // Records put after the stop must not reach the host, even while the source still holds its leases.
            await stream.PutAsync(["late-1", "late-2"]);
            await source.Source.ReleaseAsync(new CancellationTokenSource(Progress).Token);
        }

        host.AssertNoViolations();
        host.AssertInOrderPerShard();
        Assert.Equal(Expected(keys), host.Payloads.Order(StringComparer.Ordinal));
        Assert.All(host.Processors.Values.SelectMany(p => p.Records), record => Assert.Equal(stream.Name, record.StreamName));
    }

    [Fact]
    public async Task After_release_another_source_reads_every_shard_at_once()
    {
        await using ContractStream stream = await CreateStreamAsync(shards: 2);
        string[] keys = [.. Enumerable.Range(0, 20).Select(i => $"key-{i % 5}")];
        await stream.PutAsync(keys);

        var first = new RecordingSourceHost(stream.PayloadOf);
        await using (ContractSource source = stream.CreateSource("worker-1"))
        {
            await source.Source.StartAsync(first, default);
            await first.WaitForAsync(keys.Length);
            await source.Source.StopReadingAsync(new CancellationTokenSource(Progress).Token);
            await source.Source.ReleaseAsync(new CancellationTokenSource(Progress).Token);
        }

        // Nothing was checkpointed (the host never completes records): the next source reads everything again,
        // from shards the first one gave up, without waiting for any lease to expire.
        var second = new RecordingSourceHost(stream.PayloadOf, first.Checkpoints);
        await using (ContractSource source = stream.CreateSource("worker-2"))
        {
            await source.Source.StartAsync(second, default);
            await second.WaitForAsync(keys.Length);
            await source.Source.StopReadingAsync(new CancellationTokenSource(Progress).Token);
            await source.Source.ReleaseAsync(new CancellationTokenSource(Progress).Token);
        }

        Assert.Equal(first.Processors.Keys.Order(StringComparer.Ordinal), second.Processors.Keys.Order(StringComparer.Ordinal));
        second.AssertNoViolations();
        second.AssertInOrderPerShard();
        Assert.Equal(Expected(keys), second.Payloads.Order(StringComparer.Ordinal));
    }

    /// <summary>The payload <see cref="ContractStream.PutAsync"/> writes for the record at <paramref name="index"/>.</summary>
    internal static string Payload(string key, int index) => $"{key}#{index:D5}";

    private static IEnumerable<string> Expected(string[] keys) => keys.Select((key, i) => Payload(key, i)).Order(StringComparer.Ordinal);

    /// <summary>A fresh stream (or queue) of one kind, and sources over it.</summary>
    internal abstract class ContractStream : IAsyncDisposable
    {
        public abstract string Name { get; }

        /// <summary>Puts one record per key, in order, with payload <see cref="Payload"/> (index counted across calls).</summary>
        public abstract Task PutAsync(IReadOnlyList<string> keys);

        public abstract ContractSource CreateSource(string workerId);

        /// <summary>The payload <see cref="PutAsync"/> wrote, as the source delivers it (by default the record's bytes).</summary>
        public virtual string PayloadOf(StreamRecord record) => Encoding.UTF8.GetString(record.Data.Span);

        public ValueTask DisposeAsync()
        {
            Release();
            return ValueTask.CompletedTask;
        }

        /// <summary>Disposes the stream's own clients.</summary>
        protected virtual void Release()
        {
        }
    }

    /// <summary>A source under test and what disposes it.</summary>
    internal sealed class ContractSource(IStreamSource source, Func<ValueTask> dispose) : IAsyncDisposable
    {
        public IStreamSource Source => source;

        public ValueTask DisposeAsync() => dispose();
    }

    /// <summary>The engine's side, recording what the source hands it.</summary>
    /// <param name="payloadOf">Reads a record's payload back.</param>
    /// <param name="checkpoints">The checkpoints of a previous host, to continue from.</param>
    /// <param name="acknowledge">
    /// Whether each record is acknowledged as soon as it is recorded, as the engine acknowledges a handled record: an
    /// SQS FIFO queue hands out a message group's next message only once the previous one is deleted.
    /// </param>
    internal sealed class RecordingSourceHost(Func<StreamRecord, string> payloadOf, ConcurrentDictionary<string, SequenceNumber>? checkpoints = null, bool acknowledge = false) : ISourceHost
    {
        private readonly ConcurrentQueue<string> _violations = new();
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile bool _stopped;

        public ConcurrentDictionary<string, SequenceNumber> Checkpoints { get; } = checkpoints ?? new(StringComparer.Ordinal);

        public ConcurrentDictionary<string, RecordingProcessor> Processors { get; } = new(StringComparer.Ordinal);

        public IEnumerable<string> Payloads => Processors.Values.SelectMany(p => p.Records).Select(payloadOf);

        public string ConsumerName => "contract";

        public TimeProvider TimeProvider => TimeProvider.System;

        public IShardCheckpointer CreateCheckpointer(string streamName, string shardId) => new DictionaryCheckpointer(Checkpoints, $"{streamName}/{shardId}");

        public IShardProcessor OpenShard(string shardId, IShardCheckpointer checkpointer, SequenceNumber startAfter) => OpenShard(shardId, checkpointer, startAfter, null);

        public IShardProcessor OpenShard(string shardId, IShardCheckpointer checkpointer, SequenceNumber startAfter, IRecordAcknowledger? acknowledger)
        {
            if (_stopped)
            {
                _violations.Enqueue($"shard {shardId} opened after stop reading returned");
            }

            var processor = new RecordingProcessor(this, shardId, checkpointer, acknowledge ? acknowledger : null);
            if (!Processors.TryAdd(shardId, processor))
            {
                _violations.Enqueue($"shard {shardId} opened twice");
            }

            return processor;
        }

        public void ReportFault(Exception exception) => _violations.Enqueue($"fault: {exception.GetType().Name}: {exception.Message}");

        public void ReportReaderFault(string shardId, Exception exception, bool fatal)
        {
            if (fatal)
            {
                _violations.Enqueue($"fatal reader fault on {shardId}: {exception.GetType().Name}: {exception.Message}");
            }
        }

        public void ReportReaderRecovered(string shardId)
        {
        }

        public void MarkStopped() => _stopped = true;

        public async Task WaitForAsync(int records)
        {
            using var timeout = new CancellationTokenSource(Progress);
            while (true)
            {
                Task changed = Volatile.Read(ref _changed).Task;
                if (Processors.Values.Sum(p => p.Records.Count) >= records)
                {
                    return;
                }

                try
                {
                    await changed.WaitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    Assert.Fail($"{Processors.Values.Sum(p => p.Records.Count)} of {records} records enqueued within {Progress}; violations: {string.Join("; ", _violations)}");
                }
            }
        }

        public void AssertNoViolations() => Assert.Empty(_violations);

        public void AssertInOrderPerShard()
        {
            foreach (RecordingProcessor processor in Processors.Values)
            {
                List<StreamRecord> records = [.. processor.Records];
                for (int i = 1; i < records.Count; i++)
                {
                    Assert.True(records[i - 1].Position < records[i].Position, $"shard {processor.ShardId}: {records[i - 1].Position} then {records[i].Position}");
                }

                Assert.All(records, record => Assert.Equal(processor.ShardId, record.ShardId));
            }
        }

        internal void Enqueued(string shardId)
        {
            if (_stopped)
            {
                _violations.Enqueue($"a record of {shardId} enqueued after stop reading returned");
            }

            Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
    }

    /// <summary>A shard as the engine would process it, minus the handling: records are kept, never completed (only acknowledged, if the host was asked to).</summary>
    internal sealed class RecordingProcessor(RecordingSourceHost host, string shardId, IShardCheckpointer checkpointer, IRecordAcknowledger? acknowledger = null) : IShardProcessor
    {
        private readonly CancellationTokenSource _stopping = new();
        private readonly List<StreamRecord> _records = [];

        public string ShardId => shardId;

        public CancellationToken Stopping => _stopping.Token;

        public int BufferedCount => Records.Count;

        public IReadOnlyList<StreamRecord> Records
        {
            get
            {
                lock (_records)
                {
                    return [.. _records];
                }
            }
        }

        public ValueTask EnqueueAsync(StreamRecord record, CancellationToken cancellationToken)
        {
            lock (_records)
            {
                _records.Add(record);
            }

            acknowledger?.OnRecordCompleted(record);
            host.Enqueued(shardId);
            return ValueTask.CompletedTask;
        }

        public async Task CompleteAsync(CancellationToken cancellationToken) => await checkpointer.SaveAsync(SequenceNumber.ShardEnd, cancellationToken);

        public Task AbandonAsync() => _stopping.CancelAsync();
    }

    private sealed class DictionaryCheckpointer(ConcurrentDictionary<string, SequenceNumber> store, string key) : IShardCheckpointer
    {
        public ValueTask<SequenceNumber> GetAsync(CancellationToken cancellationToken) => ValueTask.FromResult(store.GetValueOrDefault(key));

        public ValueTask SaveAsync(SequenceNumber position, CancellationToken cancellationToken)
        {
            store[key] = position;
            return ValueTask.CompletedTask;
        }
    }
}
