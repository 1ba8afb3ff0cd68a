using System.Collections.Concurrent;
using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;

namespace StreamLanes.Engine.Tests.Dispatching;

public sealed class AcknowledgementTests
{
    /// <summary>A source whose one shard asks the engine to acknowledge each completed record, as the SQS source does.</summary>
    private sealed class AcknowledgedSource(IReadOnlyList<(string Key, string Body)> records, InMemoryDeadLetterSink sink) : IStreamSource, IRecordAcknowledger
    {
        public ConcurrentQueue<(StreamRecord Record, bool DeadLetterWritten)> Acknowledged { get; } = new();

        public SourceKind Kind => SourceKind.Sqs;

        public string StreamName => "queue";

        public async Task StartAsync(ISourceHost host, CancellationToken cancellationToken)
        {
            IShardProcessor shard = host.OpenShard("receivers", host.CreateCheckpointer("queue", "receivers"), SequenceNumber.None, this);
            ulong sequence = 0;
            foreach ((string key, string body) in records)
            {
                await shard.EnqueueAsync(new StreamRecord(SourceKind.Sqs, "queue", "receivers", SequenceNumber.FromInteger(++sequence), key, System.Text.Encoding.UTF8.GetBytes(body), DateTimeOffset.UtcNow), cancellationToken);
            }
        }

        public Task StopReadingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task ReleaseAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public void OnRecordCompleted(StreamRecord record)
            => Acknowledged.Enqueue((record, sink.Envelopes.Any(letter => letter.SequenceNumber == record.SequenceNumber)));
    }

    [Fact]
    public async Task Each_completed_record_is_acknowledged_once_a_dead_lettered_one_after_its_sink_write_and_before_the_next_record_of_its_key()
    {
        var sink = new InMemoryDeadLetterSink();
        (string, string)[] records = [.. Enumerable.Range(0, 200).Select(i => ($"key-{i % 7}", $"{i}"))];
        var source = new AcknowledgedSource(records, sink);
        var handler = new RecordingHandler
        {
            Behaviour = (record, _, _) =>
            {
                // The previous record of this key was acknowledged before this one started.
                long previous = records.Take(int.Parse(record.SequenceNumber) - 1).Count(r => r.Item1 == record.PartitionKey);
                Assert.Equal(previous, source.Acknowledged.Count(a => a.Record.PartitionKey == record.PartitionKey));
                return record.SequenceNumber == "50" ? ValueTask.FromException(new InvalidOperationException("poison")) : ValueTask.CompletedTask;
            },
        };
        await using var harness = ConsumerHarness.Create(new InMemoryStream("unused"), handler, options => options.MaxAttempts = 2, build: b => b.FromSource(_ => source), sink: sink);
        await harness.StartAsync();
        await harness.WaitUntilAsync(status => status.Handled + status.DeadLettered == records.Length && status.Buffered == 0);
        await harness.StopAsync();

        Assert.Equal(records.Length, source.Acknowledged.Count);
        Assert.Equal(records.Length, source.Acknowledged.Select(a => a.Record.SequenceNumber).Distinct().Count());
        (StreamRecord poison, bool written) = Assert.Single(source.Acknowledged, a => a.Record.SequenceNumber == "50");
        Assert.True(written, "the dead-lettered record was acknowledged before its dead letter was written");
        Assert.Single(sink.Envelopes);
        Assert.Equal(0, handler.Overlaps);
    }

    [Fact]
    public async Task A_record_still_in_its_handler_when_the_consumer_stops_is_not_acknowledged()
    {
        var sink = new InMemoryDeadLetterSink();
        var source = new AcknowledgedSource([("a", "1"), ("b", "2"), ("a", "3")], sink);
        var handler = new RecordingHandler
        {
            Behaviour = static (record, _, token) => record.PartitionKey == "a" ? new ValueTask(Task.Delay(Timeout.Infinite, token)) : ValueTask.CompletedTask,
        };
        await using var harness = ConsumerHarness.Create(new InMemoryStream("unused"), handler, options => options.DrainTimeout = TimeSpan.FromMilliseconds(100), build: b => b.FromSource(_ => source), sink: sink);
        await harness.StartAsync();
        await harness.WaitUntilAsync(status => status.Handled == 1);
        await harness.StopAsync();

        Assert.Equal(["2"], source.Acknowledged.Select(a => a.Record.SequenceNumber));
    }
}
