using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.Options;

public sealed class OptionsValidationTests
{
    [Theory]
    [InlineData("MaxAttempts", "0", "StreamConsumers:orders:MaxAttempts must be between 1 and 1000; it was 0.")]
    [InlineData("MaxConcurrentHandlers", "0", "StreamConsumers:orders:MaxConcurrentHandlers must be between 1 and 100000; it was 0.")]
    [InlineData("MaxBufferedRecordsPerShard", "0", "StreamConsumers:orders:MaxBufferedRecordsPerShard must be between 1 and 10000000; it was 0.")]
    [InlineData("MaxBufferedRecords", "10", "StreamConsumers:orders:MaxBufferedRecords must be at least MaxBufferedRecordsPerShard (10000) and at most 100000000; it was 10.")]
    [InlineData("Retry:InitialDelay", "-00:00:01", "StreamConsumers:orders:Retry:InitialDelay must be between 00:00:00 and 01:00:00; it was -00:00:01.")]
    [InlineData("AttemptTimeout", "00:00:00.001", "StreamConsumers:orders:AttemptTimeout must be null or between 00:00:00.010 and 1.00:00:00; it was 00:00:00.0010000.")]
    [InlineData("MaxRecordAge", "00:00:00.5", "StreamConsumers:orders:MaxRecordAge must be null or between 00:00:01 and 365.00:00:00; it was 00:00:00.5000000.")]
    [InlineData("CheckpointInterval", "00:00:00", "StreamConsumers:orders:CheckpointInterval must be between 00:00:00.010 and 01:00:00; it was 00:00:00.")]
    [InlineData("FailureMode", "7", "StreamConsumers:orders:FailureMode must be DeadLetterAndContinue, ParkKey or RetryUntilSuccess; it was 7.")]
    [InlineData("SinkFailuresBeforeUnhealthy", "0", "StreamConsumers:orders:SinkFailuresBeforeUnhealthy must be at least 1; it was 0.")]
    [InlineData("DataDirectory", " ", "StreamConsumers:orders:DataDirectory must not be empty; it was  .")]
    public async Task An_invalid_option_from_configuration_fails_start_up_naming_the_option_and_the_rule(string option, string value, string message)
    {
        await using var harness = Create(new Dictionary<string, string?> { [$"StreamConsumers:orders:{option}"] = value });
        OptionsValidationException error = await Assert.ThrowsAsync<OptionsValidationException>(harness.StartAsync);
        Assert.Contains(message, error.Failures);
    }

    [Fact]
    public async Task Every_invalid_option_is_reported_at_once()
    {
        await using var harness = Create(new Dictionary<string, string?>
        {
            ["StreamConsumers:orders:MaxAttempts"] = "0",
            ["StreamConsumers:orders:Retry:MaxDelay"] = "00:00:00.001",
            ["StreamConsumers:orders:Retry:InitialDelay"] = "00:00:01",
        });
        OptionsValidationException error = await Assert.ThrowsAsync<OptionsValidationException>(harness.StartAsync);
        Assert.Equal(2, error.Failures.Count());
        Assert.Contains("StreamConsumers:orders:Retry:MaxDelay must be at least Retry:InitialDelay (00:00:01) and at most 1.00:00:00; it was 00:00:00.0010000.", error.Failures);
    }

    [Fact]
    public async Task A_value_of_the_wrong_type_names_the_configuration_key()
    {
        await using var harness = Create(new Dictionary<string, string?> { ["StreamConsumers:orders:MaxAttempts"] = "five" });
        InvalidOperationException error = await Assert.ThrowsAnyAsync<InvalidOperationException>(harness.StartAsync);
        Assert.Contains("StreamConsumers:orders:MaxAttempts", error.Message);
    }

    [Fact]
    public async Task Configuration_values_are_bound_and_code_wins_over_configuration()
    {
        await using var harness = Create(new Dictionary<string, string?>
        {
            ["StreamConsumers:orders:MaxAttempts"] = "7",
            ["StreamConsumers:orders:FailureMode"] = "ParkKey",
            ["StreamConsumers:orders:CheckpointInterval"] = "00:00:02",
        }, options => options.CheckpointInterval = TimeSpan.FromMilliseconds(50));
        StreamConsumerOptions options = harness.Host.Services.GetRequiredService<IOptionsMonitor<StreamConsumerOptions>>().Get("orders");
        Assert.Equal(7, options.MaxAttempts);
        Assert.Equal(KeyFailureMode.ParkKey, options.FailureMode);
        Assert.Equal(TimeSpan.FromMilliseconds(50), options.CheckpointInterval);
    }

    [Fact]
    public void Defaults_are_valid_and_documented_values()
    {
        var options = new StreamConsumerOptions();
        Assert.True(new StreamConsumerOptionsValidator().Validate("x", options).Succeeded);
        Assert.Equal(64, options.MaxConcurrentHandlers);
        Assert.Equal(10_000, options.MaxBufferedRecordsPerShard);
        Assert.Equal(100_000, options.MaxBufferedRecords);
        Assert.Equal(5, options.MaxAttempts);
        Assert.Equal(TimeSpan.FromMilliseconds(200), options.Retry.InitialDelay);
        Assert.Equal(TimeSpan.FromSeconds(30), options.Retry.MaxDelay);
        Assert.Equal(TimeSpan.FromSeconds(60), options.AttemptTimeout);
        Assert.Equal(KeyFailureMode.DeadLetterAndContinue, options.FailureMode);
        Assert.Null(options.MaxRecordAge);
        Assert.Equal(TimeSpan.FromSeconds(5), options.CheckpointInterval);
    }

    private static ConsumerHarness Create(IDictionary<string, string?> configuration, Action<StreamConsumerOptions>? configure = null)
        => ConsumerHarness.Create(new InMemoryStream("orders"), new RecordingHandler(), configure, configuration: configuration, fastTestDefaults: false);
}
