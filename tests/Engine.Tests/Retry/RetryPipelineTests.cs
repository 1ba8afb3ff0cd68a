using Polly;
using Polly.Timeout;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;

namespace StreamLanes.Engine.Tests.Retry;

public sealed class RetryPipelineTests
{
    private sealed class ValidationFailure(string message) : Exception(message);

    [Fact]
    public async Task Exceptions_classified_non_retryable_by_type_or_predicate_skip_the_retries()
    {
        var stream = new InMemoryStream("orders");
        var handler = new RecordingHandler
        {
            Behaviour = static (record, _, _) => record.PartitionKey switch
            {
                "typed" => ValueTask.FromException(new ValidationFailure("bad field")),
                "predicate" => ValueTask.FromException(new InvalidOperationException("HTTP 400")),
                _ => ValueTask.FromException(new InvalidOperationException("HTTP 503")),
            },
        };
        await using var harness = ConsumerHarness.Create(stream, handler, options => options.MaxAttempts = 3, build: b => b
            .TreatAsNonRetryable<ValidationFailure>()
            .TreatAsNonRetryable(ex => ex.Message.Contains("400", StringComparison.Ordinal)));
        stream.Put("typed", "1");
        stream.Put("predicate", "2");
        stream.Put("transient", "3");
        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();
        var letters = harness.DeadLetters.ToDictionary(l => l.PartitionKey);
        Assert.Equal(DeadLetterReason.NonRetryable, letters["typed"].Reason);
        Assert.Single(letters["typed"].Attempts);
        Assert.Equal(DeadLetterReason.NonRetryable, letters["predicate"].Reason);
        Assert.Single(letters["predicate"].Attempts);
        Assert.Equal(DeadLetterReason.RetriesExhausted, letters["transient"].Reason);
        Assert.Equal(3, letters["transient"].Attempts.Count);
    }

    [Fact]
    public async Task A_handler_that_outlives_the_attempt_timeout_is_cancelled_and_retried()
    {
        var stream = new InMemoryStream("orders");
        var handler = new RecordingHandler
        {
            Behaviour = static async (_, attempt, token) =>
            {
                if (attempt == 1)
                {
                    await Task.Delay(TimeSpan.FromSeconds(30), token);
                }
            },
        };
        await using var harness = ConsumerHarness.Create(stream, handler, options => options.AttemptTimeout = TimeSpan.FromMilliseconds(100));
        stream.Put("k", "x");
        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();
        Assert.Empty(harness.DeadLetters);
        Assert.Equal([false, true], handler.Calls.OrderBy(c => c.Attempt).Select(c => c.Succeeded));
    }

    [Fact]
    public async Task Timeouts_are_recorded_in_the_dead_letter_as_timeout_rejections()
    {
        var stream = new InMemoryStream("orders");
        var handler = new RecordingHandler { Behaviour = static async (_, _, token) => await Task.Delay(TimeSpan.FromSeconds(30), token) };
        await using var harness = ConsumerHarness.Create(stream, handler, options =>
        {
            options.AttemptTimeout = TimeSpan.FromMilliseconds(50);
            options.MaxAttempts = 2;
        });
        stream.Put("k", "x");
        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();
        DeadLetterEnvelope letter = Assert.Single(harness.DeadLetters);
        Assert.All(letter.Attempts, a => Assert.Equal(typeof(TimeoutRejectedException).FullName, a.ExceptionType));
    }

    [Fact]
    public async Task Retry_delays_grow_exponentially_from_the_base_delay()
    {
        var stream = new InMemoryStream("orders");
        var handler = new RecordingHandler { Behaviour = static (_, _, _) => ValueTask.FromException(new InvalidOperationException()) };
        await using var harness = ConsumerHarness.Create(stream, handler, options =>
        {
            options.MaxAttempts = 4;
            options.Retry.InitialDelay = TimeSpan.FromMilliseconds(50);
            options.Retry.MaxDelay = TimeSpan.FromSeconds(1);
            options.RetryJitter = false;
        });
        stream.Put("k", "x");
        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();
        DeadLetterEnvelope letter = Assert.Single(harness.DeadLetters);
        // Timer granularity and clock reads can shave a few milliseconds off each wait: allow 10-20%.
        TimeSpan[] gaps = [.. letter.Attempts.Zip(letter.Attempts.Skip(1), (a, b) => b.StartedAt - a.FailedAt)];
        Assert.Equal(3, gaps.Length);
        Assert.True(gaps[0] >= TimeSpan.FromMilliseconds(40), $"first gap {gaps[0]}");
        Assert.True(gaps[1] >= TimeSpan.FromMilliseconds(85), $"second gap {gaps[1]}");
        Assert.True(gaps[2] >= TimeSpan.FromMilliseconds(180), $"third gap {gaps[2]}");
    }

    [Fact]
    public async Task User_strategies_run_around_each_attempt_and_retry_options_can_be_adjusted()
    {
        var stream = new InMemoryStream("orders");
        int strategyCalls = 0;
        int onRetryCalls = 0;
        var handler = new RecordingHandler { Behaviour = static (_, attempt, _) => attempt < 3 ? ValueTask.FromException(new InvalidOperationException()) : ValueTask.CompletedTask };
        await using var harness = ConsumerHarness.Create(stream, handler, options => options.MaxAttempts = 5, build: b => b
            .ConfigurePipeline(pipeline => pipeline.AddStrategy(_ => new CountingStrategy(() => Interlocked.Increment(ref strategyCalls)), new CountingOptions()))
            .ConfigureRetry(retry => retry.OnRetry = _ =>
            {
                Interlocked.Increment(ref onRetryCalls);
                return ValueTask.CompletedTask;
            }));
        stream.Put("k", "x");
        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();
        Assert.Equal(3, strategyCalls);
        Assert.Equal(2, onRetryCalls);
    }

    private sealed class CountingOptions : ResilienceStrategyOptions;

    private sealed class CountingStrategy(Action onExecute) : ResilienceStrategy
    {
        protected override ValueTask<Outcome<TResult>> ExecuteCore<TResult, TState>(Func<ResilienceContext, TState, ValueTask<Outcome<TResult>>> callback, ResilienceContext context, TState state)
        {
            onExecute();
            return callback(context, state);
        }
    }
}
