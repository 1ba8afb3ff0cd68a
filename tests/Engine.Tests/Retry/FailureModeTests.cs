using StreamLanes.Checkpointing;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;

namespace StreamLanes.Engine.Tests.Retry;

public sealed class FailureModeTests
{
    [Fact]
    public async Task Dead_letter_and_continue_moves_the_key_on()
    {
        var stream = new InMemoryStream("orders");
        var handler = new RecordingHandler { Behaviour = static (record, _, _) => record.Data.Span[0] == (byte)'x' ? ValueTask.FromException(new InvalidOperationException()) : ValueTask.CompletedTask };
        await using var harness = ConsumerHarness.Create(stream, handler, options => options.MaxAttempts = 2);
        var put = new[] { stream.Put("k", "x1"), stream.Put("k", "ok"), stream.Put("k", "x2"), stream.Put("k", "ok") };
        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();
        Assert.Equal([put[0].SequenceNumber, put[2].SequenceNumber], harness.DeadLetters.Select(l => l.SequenceNumber));
        Assert.Equal([put[1].Position, put[3].Position], handler.Successes.OrderBy(c => c.StartedTicks).Select(c => c.Record.Position));
        InvariantChecker.Check(put, handler, harness.DeadLetters);
    }

    [Fact]
    public async Task Park_key_dead_letters_the_keys_later_records_until_it_is_released()
    {
        var stream = new InMemoryStream("orders");
        var handler = new RecordingHandler { Behaviour = static (record, _, _) => record.Data.Span[0] == (byte)'x' ? ValueTask.FromException(new InvalidOperationException("bad")) : ValueTask.CompletedTask };
        await using var harness = ConsumerHarness.Create(stream, handler, options => options.MaxAttempts = 2, build: b => b.WithFailureMode(KeyFailureMode.ParkKey));
        StreamRecord first = stream.Put("parked", "x");
        StreamRecord second = stream.Put("parked", "ok-2");
        StreamRecord third = stream.Put("parked", "ok-3");
        StreamRecord other = stream.Put("other", "ok");
        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();

        DeadLetterEnvelope[] letters = [.. harness.DeadLetters];
        Assert.Equal([DeadLetterReason.RetriesExhausted, DeadLetterReason.ParkedBehind, DeadLetterReason.ParkedBehind], letters.Select(l => l.Reason));
        Assert.Equal([first.SequenceNumber, second.SequenceNumber, third.SequenceNumber], letters.Select(l => l.SequenceNumber));
        Assert.All(letters.Skip(1), l => Assert.Equal(first.SequenceNumber, l.ParkedBehindSequenceNumber));
        Assert.All(letters.Skip(1), l => Assert.Empty(l.Attempts));
        Assert.Equal(first.SequenceNumber, harness.Consumer.ParkedKeys["parked"]);
        Assert.Equal([other.Position], handler.Successes.Select(c => c.Record.Position));

        Assert.True(harness.Consumer.ReleaseKey("parked"));
        Assert.False(harness.Consumer.ReleaseKey("parked"));
        StreamRecord afterRelease = stream.Put("parked", "ok-4");
        await harness.WaitForAllCompleteAsync();
        Assert.Contains(handler.Successes, c => c.Record.Position == afterRelease.Position);
        Assert.Empty(harness.Consumer.ParkedKeys);
    }

    [Fact]
    public async Task Retry_until_success_never_dead_letters_a_handler_error_and_only_its_key_waits()
    {
        var stream = new InMemoryStream("orders");
        int failures = 0;
        var handler = new RecordingHandler
        {
            Behaviour = (record, attempt, _) => record.PartitionKey == "flaky" && attempt <= 12
                ? ValueTask.FromException(new InvalidOperationException($"fail {Interlocked.Increment(ref failures)}"))
                : ValueTask.CompletedTask,
        };
        await using var harness = ConsumerHarness.Create(stream, handler, options =>
        {
            options.MaxAttempts = 2;
            options.Retry.InitialDelay = TimeSpan.FromMilliseconds(2);
            options.Retry.MaxDelay = TimeSpan.FromMilliseconds(10);
        }, build: b => b.WithFailureMode(KeyFailureMode.RetryUntilSuccess));
        var put = new List<StreamRecord> { stream.Put("flaky", "1"), stream.Put("flaky", "2") };
        put.AddRange(Enumerable.Range(0, 100).Select(i => stream.Put($"k{i}", "x")));
        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();
        Assert.Empty(harness.DeadLetters);
        Assert.Equal(24, failures);
        Assert.Equal(24, harness.Consumer.GetStatus().Retried);
        InvariantChecker.Check(put, handler, harness.DeadLetters);
    }

    [Fact]
    public async Task Retry_until_success_still_dead_letters_non_retryable_failures()
    {
        var stream = new InMemoryStream("orders");
        var handler = new RecordingHandler { Behaviour = static (_, _, _) => ValueTask.FromException(new NonRetryableException("invalid order")) };
        await using var harness = ConsumerHarness.Create(stream, handler, build: b => b.WithFailureMode(KeyFailureMode.RetryUntilSuccess));
        stream.Put("k", "x");
        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();
        DeadLetterEnvelope letter = Assert.Single(harness.DeadLetters);
        Assert.Equal(DeadLetterReason.NonRetryable, letter.Reason);
        Assert.Single(letter.Attempts);
    }

    [Fact]
    public async Task A_record_older_than_max_record_age_is_dead_lettered_without_an_attempt()
    {
        var stream = new InMemoryStream("orders");
        var handler = new RecordingHandler();
        await using var harness = ConsumerHarness.Create(stream, handler, options => options.MaxRecordAge = TimeSpan.FromMinutes(1));
        var old = new StreamRecord(SourceKind.InMemory, "orders", stream.ShardIds[0], SequenceNumber.FromInteger(1), "k", new byte[] { 1, 2, 3 }, DateTimeOffset.UtcNow.AddMinutes(-2));
        stream.Append(old);
        StreamRecord fresh = stream.Put("k", "fresh");
        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();
        DeadLetterEnvelope letter = Assert.Single(harness.DeadLetters);
        Assert.Equal(DeadLetterReason.RecordTooOld, letter.Reason);
        Assert.Equal(new byte[] { 1, 2, 3 }, letter.Payload.ToArray());
        Assert.Empty(letter.Attempts);
        Assert.Equal([fresh.Position], handler.Calls.Select(c => c.Record.Position));
    }

    [Fact]
    public async Task Max_record_age_dead_letters_a_record_that_ages_out_while_retrying_even_in_retry_until_success()
    {
        var stream = new InMemoryStream("orders");
        var handler = new RecordingHandler { Behaviour = static (_, _, _) => ValueTask.FromException(new InvalidOperationException("down")) };
        await using var harness = ConsumerHarness.Create(stream, handler, options =>
        {
            // Generous margins: the first attempts must come before the record ages out even on a loaded machine.
            options.MaxRecordAge = TimeSpan.FromSeconds(3);
            options.Retry.InitialDelay = TimeSpan.FromMilliseconds(50);
            options.Retry.MaxDelay = TimeSpan.FromMilliseconds(50);
        }, build: b => b.WithFailureMode(KeyFailureMode.RetryUntilSuccess));
        var aging = new StreamRecord(SourceKind.InMemory, "orders", stream.ShardIds[0], SequenceNumber.FromInteger(1), "k", new byte[] { 9 }, DateTimeOffset.UtcNow.AddMilliseconds(-500));
        stream.Append(aging);
        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();
        DeadLetterEnvelope letter = Assert.Single(harness.DeadLetters);
        Assert.Equal(DeadLetterReason.RecordTooOld, letter.Reason);
        Assert.True(letter.Attempts.Count >= 2, "the record was attempted until it aged out");
        Assert.All(letter.Attempts, a => Assert.Equal(typeof(InvalidOperationException).FullName, a.ExceptionType));
    }
}
