using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Polly;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;

namespace StreamLanes.Engine.Tests.Retry;

/// <summary>
/// The engine calls a record's first attempt directly and enters the retry pipeline only after a failure, unless the
/// user added strategies. Everything a user or an operator observes must be what the full pipeline gave.
/// </summary>
public sealed class FirstAttemptTests
{
    [Fact]
    public void Only_a_pipeline_without_user_strategies_takes_the_direct_first_attempt()
    {
        var options = new StreamConsumerOptions();
        Assert.True(RetryPipelineFactory.IsBuiltInRetryOnly(RetryPipelineFactory.Create(options, TimeProvider.System, null, null)));
        Assert.True(RetryPipelineFactory.IsBuiltInRetryOnly(RetryPipelineFactory.Create(options, TimeProvider.System, retry => retry.MaxDelay = TimeSpan.FromSeconds(1), null)));
        Assert.False(RetryPipelineFactory.IsBuiltInRetryOnly(RetryPipelineFactory.Create(options, TimeProvider.System, null, builder => builder.AddTimeout(TimeSpan.FromSeconds(5)))));
    }

    [Fact]
    public async Task Retries_see_the_first_failure_as_attempt_zero_and_keep_attempt_numbers_and_metrics()
    {
        var retries = new ConcurrentQueue<(string Key, int PollyAttempt, string? Failure)>();
        var durations = new ConcurrentQueue<double>();
        var retried = new ConcurrentQueue<long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == StreamLanesMetrics.MeterName && instrument.Name is "streamlanes.handler.duration" or "streamlanes.records.retried")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            if (IsConsumer(tags, "first-attempt"))
            {
                durations.Enqueue(value);
            }
        });
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            if (IsConsumer(tags, "first-attempt"))
            {
                retried.Enqueue(value);
            }
        });
        listener.Start();

        var stream = new InMemoryStream("orders");
        var handler = new RecordingHandler
        {
            Behaviour = static (record, attempt, _) => record.PartitionKey switch
            {
                "flaky" when attempt < 3 => ValueTask.FromException(new InvalidOperationException($"flaky {attempt}")),
                "poison" => ValueTask.FromException(new InvalidOperationException($"poison {attempt}")),
                _ => ValueTask.CompletedTask,
            },
        };
        await using var harness = ConsumerHarness.Create(
            stream,
            handler,
            options => options.MaxAttempts = 4,
            build: consumer => consumer.ConfigureRetry(retry => retry.OnRetry = args =>
            {
                StreamRecord record = args.Context.Properties.GetValue(RetryPipelineFactory.LaneKey, null!).CurrentRecord!;
                retries.Enqueue((record.PartitionKey, args.AttemptNumber, args.Outcome.Exception?.Message));
                return default;
            }),
            name: "first-attempt");
        for (int i = 0; i < 5; i++)
        {
            stream.Put($"ok-{i}", "{}");
        }

        stream.Put("flaky", "{}");
        stream.Put("poison", "{}");
        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();

        // Polly's retry strategy saw the directly called first attempt's failure as its attempt 0, then ran the rest.
        Assert.Equal([(0, "flaky 1"), (1, "flaky 2")], retries.Where(r => r.Key == "flaky").Select(r => (r.PollyAttempt, r.Failure)));
        Assert.Equal([(0, "poison 1"), (1, "poison 2"), (2, "poison 3")], retries.Where(r => r.Key == "poison").Select(r => (r.PollyAttempt, r.Failure)));
        Assert.DoesNotContain(retries, r => r.Key.StartsWith("ok-", StringComparison.Ordinal));

        // The handler saw each attempt once, numbered from 1; the first attempt was not called twice.
        Assert.Equal([1, 2, 3], handler.Calls.Where(c => c.Record.PartitionKey == "flaky").Select(c => c.Attempt).Order());
        Assert.Equal([1, 2, 3, 4], handler.Calls.Where(c => c.Record.PartitionKey == "poison").Select(c => c.Attempt).Order());
        Assert.All(handler.Calls.Where(c => c.Record.PartitionKey.StartsWith("ok-", StringComparison.Ordinal)), c => Assert.Equal(1, c.Attempt));
        DeadLetterEnvelope letter = Assert.Single(harness.DeadLetters);
        Assert.Equal(DeadLetterReason.RetriesExhausted, letter.Reason);
        Assert.Equal([1, 2, 3, 4], letter.Attempts.Select(a => a.Attempt));
        Assert.Equal(["poison 1", "poison 2", "poison 3", "poison 4"], letter.Attempts.Select(a => a.Message));

        // Metrics: one duration per handler call (5 + 3 + 4), one retry per attempt after the first (2 + 3).
        StreamConsumerStatus status = harness.Consumer.GetStatus();
        Assert.Equal(5, status.Retried);
        Assert.Equal(6, status.Handled);
        Assert.Equal(5, retried.Sum());
        Assert.Equal(12, durations.Count);
    }

    [Fact]
    public async Task A_strategy_added_with_ConfigurePipeline_sees_every_attempt_including_successful_first_ones()
    {
        var seen = new ConcurrentQueue<string>();
        var stream = new InMemoryStream("orders");
        var handler = new RecordingHandler
        {
            Behaviour = static (record, attempt, _) => record.PartitionKey == "flaky" && attempt < 3
                ? ValueTask.FromException(new InvalidOperationException("transient"))
                : ValueTask.CompletedTask,
        };
        await using var harness = ConsumerHarness.Create(
            stream,
            handler,
            options => options.MaxAttempts = 3,
            build: consumer => consumer.ConfigurePipeline(builder => builder.AddStrategy(_ => new RecordingStrategy(seen), new RecordingStrategyOptions())));
        for (int i = 0; i < 4; i++)
        {
            stream.Put($"ok-{i}", "{}");
        }

        stream.Put("flaky", "{}");
        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();

        Assert.Empty(harness.DeadLetters);
        Assert.Equal(7, handler.Calls.Count);
        Assert.Equal(3, seen.Count(key => key == "flaky"));
        Assert.All(Enumerable.Range(0, 4), i => Assert.Single(seen, key => key == $"ok-{i}"));
    }

    private static bool IsConsumer(ReadOnlySpan<KeyValuePair<string, object?>> tags, string consumer)
    {
        foreach (KeyValuePair<string, object?> tag in tags)
        {
            if (tag.Key == "consumer")
            {
                return (string?)tag.Value == consumer;
            }
        }

        return false;
    }

    private sealed class RecordingStrategyOptions : ResilienceStrategyOptions;

    /// <summary>A user strategy inside the retry: it runs once per attempt and records the key it ran for.</summary>
    private sealed class RecordingStrategy(ConcurrentQueue<string> seen) : ResilienceStrategy
    {
        protected override ValueTask<Outcome<TResult>> ExecuteCore<TResult, TState>(
            Func<ResilienceContext, TState, ValueTask<Outcome<TResult>>> callback,
            ResilienceContext context,
            TState state)
        {
            seen.Enqueue(context.Properties.GetValue(RetryPipelineFactory.LaneKey, null!).CurrentRecord!.PartitionKey);
            return callback(context, state);
        }
    }
}
