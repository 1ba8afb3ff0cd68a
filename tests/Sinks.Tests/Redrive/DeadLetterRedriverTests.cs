using System.Collections.Concurrent;
using System.Diagnostics;
using StreamLanes.Aws;
using StreamLanes.Sinks.Tests.Envelope;
using StreamLanes.Sinks.Tests.Support;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.Sinks.Tests.Redrive;

/// <summary>A replayer that records calls per key and fails the dead letters it is told to.</summary>
public sealed class ScriptedReplayer(string consumer = "orders") : IDeadLetterReplayer
{
    private readonly ConcurrentDictionary<string, int> _inFlight = new();

    public ConcurrentQueue<DeadLetterEnvelope> Calls { get; } = new();

    public ConcurrentQueue<string> DrainedKeys { get; } = new();

    public HashSet<string> FailSequences { get; } = [];

    private int _overlaps;

    public int Overlaps => Volatile.Read(ref _overlaps);

    public string Consumer => consumer;

    public async ValueTask<DeadLetterReplayResult> ReplayAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken)
    {
        if (_inFlight.AddOrUpdate(envelope.PartitionKey, 1, static (_, n) => n + 1) > 1)
        {
            Interlocked.Increment(ref _overlaps);
        }

        await Task.Delay(Random.Shared.Next(0, 3), cancellationToken);
        Calls.Enqueue(envelope);
        _inFlight.AddOrUpdate(envelope.PartitionKey, 0, static (_, n) => n - 1);
        return FailSequences.Contains(envelope.SequenceNumber)
            ? DeadLetterReplayResult.Failed([DeadLetterAttempt.FromException(envelope.Attempts.Count + 1, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, new TimeoutException("still failing"))])
            : DeadLetterReplayResult.Success;
    }

    public ValueTask<bool> KeyDrainedAsync(DeadLetterEnvelope lastReplayed, CancellationToken cancellationToken)
    {
        DrainedKeys.Enqueue(lastReplayed.PartitionKey);
        return ValueTask.FromResult(true);
    }
}

public sealed class DeadLetterRedriverTests
{
    private static async Task<InMemoryDeadLetterSink> InterleavedAsync(int keys, int perKey)
    {
        var sink = new InMemoryDeadLetterSink();

        // Written interleaved across keys and out of sequence order within a key (sinks do not promise order).
        var letters = new List<DeadLetterEnvelope>();
        for (int i = 0; i < perKey; i++)
        {
            for (int k = 0; k < keys; k++)
            {
                letters.Add(DeadLetterEnvelopeTests.Sample([(byte)i], $"key-{k}", $"{(i * keys) + k + 1}"));
            }
        }

        foreach (DeadLetterEnvelope letter in letters.OrderBy(_ => Random.Shared.Next()))
        {
            await sink.WriteAsync(letter, default);
        }

        return sink;
    }

    [Fact]
    public async Task Replay_keeps_per_key_sequence_order_across_interleaved_keys_and_deletes_each_success()
    {
        InMemoryDeadLetterSink sink = await InterleavedAsync(keys: 6, perKey: 8);
        var replayer = new ScriptedReplayer();
        DeadLetterRedriveReport report = await new DeadLetterRedriver(sink).ReplayAsync(replayer, new DeadLetterRedriveOptions { MaxConcurrentKeys = 4 });

        Assert.Equal(48, report.Counts[DeadLetterOutcome.Replayed]);
        Assert.Empty(sink.Envelopes);
        Assert.Equal(0, replayer.Overlaps);
        foreach (IGrouping<string, DeadLetterEnvelope> key in replayer.Calls.GroupBy(e => e.PartitionKey))
        {
            long[] order = [.. key.Select(e => long.Parse(e.SequenceNumber))];
            Assert.Equal(order.Order(), order);
        }

        Assert.Equal(6, replayer.DrainedKeys.Distinct().Count());
    }

    [Fact]
    public async Task A_dead_letter_that_fails_again_stays_with_both_failure_histories_and_its_key_stops_there()
    {
        InMemoryDeadLetterSink sink = await InterleavedAsync(keys: 3, perKey: 4);

        // key-1's second dead letter (sequence 5) fails again: key-1's later ones must not overtake it.
        var replayer = new ScriptedReplayer { FailSequences = { "5" } };
        DeadLetterRedriveReport report = await new DeadLetterRedriver(sink).ReplayAsync(replayer, new DeadLetterRedriveOptions());

        Assert.Equal(1, report.Counts[DeadLetterOutcome.Failed]);
        Assert.Equal(2, report.Counts[DeadLetterOutcome.SkippedBehindFailure]);
        Assert.Equal(9, report.Counts[DeadLetterOutcome.Replayed]);
        Assert.True(report.HasFailures);
        Assert.DoesNotContain(replayer.Calls, e => e.PartitionKey == "key-1" && long.Parse(e.SequenceNumber) > 5);
        DeadLetterEnvelope kept = sink.Envelopes.Single(e => e.SequenceNumber == "5");
        Assert.Equal(3, kept.Attempts.Count);
        Assert.Equal(["downstream timed out", "still down", "still failing"], kept.Attempts.Select(a => a.Message));
        Assert.Equal([5, 8, 11], sink.Envelopes.Select(e => int.Parse(e.SequenceNumber)).Order());
        Assert.DoesNotContain("key-1", replayer.DrainedKeys);
    }

    [Fact]
    public async Task Dry_run_changes_nothing_and_reports_what_would_be_done()
    {
        InMemoryDeadLetterSink sink = await InterleavedAsync(keys: 2, perKey: 3);
        DeadLetterEnvelope[] before = [.. sink.Envelopes];
        var replayer = new ScriptedReplayer();
        var redriver = new DeadLetterRedriver(sink);

        DeadLetterRedriveReport replay = await redriver.ReplayAsync(replayer, new DeadLetterRedriveOptions { DryRun = true });
        DeadLetterRedriveReport purge = await redriver.PurgeAsync(new DeadLetterRedriveOptions { DryRun = true });

        Assert.Equal(6, replay.Counts[DeadLetterOutcome.DryRun]);
        Assert.Equal(6, purge.Counts[DeadLetterOutcome.DryRun]);
        Assert.Empty(replayer.Calls);
        Assert.Empty(replayer.DrainedKeys);
        Assert.Equal(before, sink.Envelopes);
    }

    [Fact]
    public async Task Purge_by_filter_removes_only_what_matches()
    {
        var sink = new InMemoryDeadLetterSink();
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([1], "a", "1"), default);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([2], "a", "2") with { Reason = DeadLetterReason.NonRetryable }, default);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([3], "b", "3") with { Reason = DeadLetterReason.NonRetryable }, default);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([4], "a", "4") with { Consumer = "billing", Reason = DeadLetterReason.NonRetryable }, default);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([5], "a", "5") with { Reason = DeadLetterReason.NonRetryable, DeadLetteredAt = new DateTimeOffset(2027, 1, 1, 0, 0, 0, TimeSpan.Zero) }, default);

        DeadLetterRedriveReport report = await new DeadLetterRedriver(sink).PurgeAsync(new DeadLetterRedriveOptions
        {
            Filter = new DeadLetterFilter
            {
                Consumer = "orders",
                PartitionKey = "a",
                Reason = DeadLetterReason.NonRetryable,
                ExceptionType = "InvalidOperationException",
                To = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero),
            },
        });

        Assert.Equal(["2"], report.Items.Select(i => i.SequenceNumber));
        Assert.Equal(["1", "3", "4", "5"], sink.Envelopes.Select(e => e.SequenceNumber).Order());
    }

    [Fact]
    public async Task The_rate_limit_spaces_actions()
    {
        InMemoryDeadLetterSink sink = await InterleavedAsync(keys: 3, perKey: 2);
        var watch = Stopwatch.StartNew();
        DeadLetterRedriveReport report = await new DeadLetterRedriver(sink).PurgeAsync(new DeadLetterRedriveOptions { RatePerSecond = 20 });
        Assert.Equal(6, report.Counts[DeadLetterOutcome.Purged]);
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(240), $"6 purges at 20/s took only {watch.Elapsed}");
    }

    [Fact]
    public void Invalid_options_name_the_option_and_the_rule()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => new DeadLetterRedriveOptions { RatePerSecond = 0, MaxConcurrentKeys = 0 }.Validate());
        Assert.Contains("DeadLetterRedriveOptions.RatePerSecond must be between 0.001", error.Message);
        Assert.Contains("DeadLetterRedriveOptions.MaxConcurrentKeys must be between 1 and 256", error.Message);
    }

    [Theory]
    [InlineData(1e-300)]
    [InlineData(0.0009)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NaN)]
    [InlineData(-1)]
    public void A_rate_too_small_to_mean_anything_is_refused_not_run_unlimited(double rate)
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => new DeadLetterRedriveOptions { RatePerSecond = rate }.Validate());
        Assert.Contains("RatePerSecond must be between 0.001 (one dead letter per 1,000 s) and 100,000 per second", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Copies_of_one_dead_letter_id_are_replayed_once_listed_once_and_all_deleted()
    {
        // After a crash between the dead letter's write and the checkpoint the record is dead-lettered again: same id.
        var sink = new InMemoryDeadLetterSink();
        DeadLetterEnvelope letter = DeadLetterEnvelopeTests.Sample([1], "a", "1");
        await sink.WriteAsync(letter, default);
        await sink.WriteAsync(letter with { DeadLetteredAt = letter.DeadLetteredAt.AddSeconds(30) }, default);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([2], "a", "2"), default);
        await sink.WriteAsync(letter with { DeadLetteredAt = letter.DeadLetteredAt.AddSeconds(60) }, default);
        var redriver = new DeadLetterRedriver(sink);

        Assert.Equal(["1", "2"], (await redriver.ListAsync()).Select(e => e.SequenceNumber));

        var replayer = new ScriptedReplayer();
        DeadLetterRedriveReport report = await redriver.ReplayAsync(replayer, new DeadLetterRedriveOptions());
        Assert.Equal(["1", "2"], replayer.Calls.Select(e => e.SequenceNumber));
        Assert.Equal(2, report.Counts[DeadLetterOutcome.Replayed]);
        Assert.Empty(sink.Envelopes);
    }

    [Fact]
    public async Task A_purge_removes_every_copy_and_a_failed_replay_keeps_exactly_one()
    {
        var sink = new InMemoryDeadLetterSink();
        DeadLetterEnvelope letter = DeadLetterEnvelopeTests.Sample([1], "a", "1");
        for (int i = 0; i < 3; i++)
        {
            await sink.WriteAsync(letter with { DeadLetteredAt = letter.DeadLetteredAt.AddSeconds(i) }, default);
        }

        DeadLetterRedriveReport failed = await new DeadLetterRedriver(sink).ReplayAsync(new ScriptedReplayer { FailSequences = { "1" } }, new DeadLetterRedriveOptions());
        Assert.Equal(1, failed.Counts[DeadLetterOutcome.Failed]);
        Assert.Equal(3, Assert.Single(sink.Envelopes).Attempts.Count);

        for (int i = 0; i < 2; i++)
        {
            await sink.WriteAsync(letter, default);
        }

        DeadLetterRedriveReport purged = await new DeadLetterRedriver(sink).PurgeAsync(new DeadLetterRedriveOptions());
        Assert.Equal(1, purged.Counts[DeadLetterOutcome.Purged]);
        Assert.Empty(sink.Envelopes);
    }
}

[Collection(EmulatorCollections.Sqs)]
public sealed class SqsFifoRedriveTests(SqsEmulatorFixture emulator)
{
    [Fact]
    public async Task Replay_from_a_FIFO_queue_reaches_a_groups_later_messages_in_order_and_keeps_the_one_that_fails_again()
    {
        using SqsClient sqs = AwsTestClients.Sqs(emulator);
        string queue = await AwsTestClients.QueueAsync(sqs, fifo: true);
        await using var sink = new SqsDeadLetterSink(sqs, new SqsDeadLetterSinkOptions { QueueUrl = queue, ReadVisibilityTimeout = TimeSpan.FromSeconds(30) });

        // More than one receive's worth in one group: a FIFO queue shows them only as earlier ones are deleted.
        for (int i = 1; i <= 14; i++)
        {
            await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([(byte)i], i % 2 == 0 ? "even" : "odd", $"{i}"), default);
        }

        var replayer = new ScriptedReplayer { FailSequences = { "9" } };
        DeadLetterRedriveReport report = await new DeadLetterRedriver(sink).ReplayAsync(replayer, new DeadLetterRedriveOptions());

        Assert.Equal(["2", "4", "6", "8", "10", "12", "14"], replayer.Calls.Where(e => e.PartitionKey == "even").Select(e => e.SequenceNumber));
        Assert.Equal(["1", "3", "5", "7", "9"], replayer.Calls.Where(e => e.PartitionKey == "odd").Select(e => e.SequenceNumber));
        Assert.Equal(11, report.Counts[DeadLetterOutcome.Replayed]);
        Assert.Equal(1, report.Counts[DeadLetterOutcome.Failed]);

        // The group's head after the failure is reported skipped; messages behind it stay unseen (the group is locked)
        // and untouched.
        Assert.Contains(report.Items, i => i.SequenceNumber == "11" && i.Outcome == DeadLetterOutcome.SkippedBehindFailure);
        Assert.DoesNotContain(report.Items, i => i.SequenceNumber == "13" && i.Outcome != DeadLetterOutcome.SkippedBehindFailure);

        List<SqsMessage> left = await AwsTestClients.PeekAllAsync(sqs, queue);
        DeadLetterEnvelope[] envelopes = [.. left.Select(m => DeadLetterEnvelopeSerializer.Deserialize(System.Text.Encoding.UTF8.GetBytes(m.Body)))];
        Assert.Equal([9, 11, 13], envelopes.Select(e => int.Parse(e.SequenceNumber)).Order());
        Assert.Equal(3, envelopes.Single(e => e.SequenceNumber == "9").Attempts.Count);
    }
}
