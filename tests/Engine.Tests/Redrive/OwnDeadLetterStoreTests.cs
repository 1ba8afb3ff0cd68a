using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;

namespace StreamLanes.Engine.Tests.Redrive;

/// <summary>A consumer replays through its own JSON-lines store, holds the file's lock for its life, and refuses a file another process holds.</summary>
public sealed class OwnDeadLetterStoreTests : IDisposable
{
    private volatile bool _unlocked;
    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), "streamlanes-tests", Guid.NewGuid().ToString("N"));

    private string DeadLetterFile => Path.Combine(_dataDirectory, "dead-letters", "orders.jsonl");

    private ConsumerHarness Create(InMemoryStream stream, RecordingHandler handler)
        => ConsumerHarness.Create(stream, handler, options =>
        {
            options.DataDirectory = _dataDirectory;
            options.MaxAttempts = 1;
        }, build: consumer => consumer.UseJsonLinesDeadLetters());

    [Fact]
    public async Task Replays_through_the_consumers_own_store_while_it_keeps_dead_lettering_lose_and_tear_nothing()
    {
        var stream = new InMemoryStream("orders");
        var handler = new RecordingHandler
        {
            Behaviour = (record, _, _) => record.PartitionKey.StartsWith("bad", StringComparison.Ordinal) && !_unlocked
                ? ValueTask.FromException(new InvalidOperationException("down"))
                : ValueTask.CompletedTask,
        };
        await using ConsumerHarness harness = Create(stream, handler);
        for (int i = 0; i < 40; i++)
        {
            stream.Put($"bad-{i % 4}", $"{{\"n\":{i}}}");
        }

        await harness.StartAsync();
        await harness.WaitForAllCompleteAsync();
        IDeadLetterStore store = harness.Consumer.GetDeadLetterStore();
        Assert.Equal(DeadLetterFile, Assert.IsType<JsonLinesDeadLetterSink>(store).Path);

        // Failing replays append new versions while the consumer appends new dead letters to the same file.
        Task<DeadLetterRedriveReport> replay = harness.Consumer.ReplayDeadLettersAsync(new DeadLetterRedriveOptions { MaxConcurrentKeys = 4 });
        for (int i = 40; i < 120; i++)
        {
            stream.Put($"bad-{i % 4}", $"{{\"n\":{i}}}");
        }

        DeadLetterRedriveReport failed = await replay;
        Assert.True(failed.Counts.GetValueOrDefault(DeadLetterOutcome.Failed) >= 1);
        await harness.WaitForAllCompleteAsync();

        JsonLinesContent content = await ((JsonLinesDeadLetterSink)store).ReadContentAsync(default);
        Assert.Empty(content.BadLines);
        Assert.Equal(
            stream.Records(0).Select(r => r.SequenceNumber).Order(),
            content.DeadLetters.Select(d => d.Envelope.SequenceNumber).Order());

        _unlocked = true;
        DeadLetterRedriveReport replayed = await harness.Consumer.ReplayDeadLettersAsync(new DeadLetterRedriveOptions());
        Assert.Equal(120, replayed.Counts[DeadLetterOutcome.Replayed]);
        Assert.Empty(await JsonLinesDeadLetterSink.ReadAllAsync(DeadLetterFile));
    }

    [Fact]
    public async Task The_dead_letter_file_is_locked_from_start_to_stop()
    {
        var stream = new InMemoryStream("orders");
        await using ConsumerHarness harness = Create(stream, new RecordingHandler());
        string lockFile = DeadLetterFile + ".lock";
        await harness.StartAsync();

        // A separate open of the lock file is what another process does: the OS refuses it while the consumer runs.
        Assert.ThrowsAny<IOException>(() => new FileStream(lockFile, FileMode.Open, FileAccess.ReadWrite, FileShare.None).Dispose());
        await harness.StopAsync();
        using (new FileStream(lockFile, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
        }
    }

    [Fact]
    public async Task A_consumer_whose_file_another_process_holds_is_refused_at_start_naming_the_data_directory()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(DeadLetterFile)!);
        using var otherProcess = new FileStream(DeadLetterFile + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        var stream = new InMemoryStream("orders");
        var handler = new RecordingHandler();
        stream.Put("k", "{}");
        await using ConsumerHarness harness = Create(stream, handler);

        InvalidOperationException error = await Assert.ThrowsAsync<InvalidOperationException>(harness.StartAsync);
        Assert.Contains($"Stream consumer 'orders' cannot start: its data directory '{Path.GetFullPath(_dataDirectory)}' is in use by another process", error.Message, StringComparison.Ordinal);
        Assert.Contains("DataDirectory", error.Message, StringComparison.Ordinal);
        Assert.Empty(handler.Calls);
    }

    [Fact]
    public async Task A_sink_built_without_a_logger_reports_unreadable_lines_through_the_consumers_logger()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(DeadLetterFile)!);
        await File.WriteAllTextAsync(DeadLetterFile, "{\"torn\":\n");
        var logs = new CapturingLoggerProvider();
        await using ConsumerHarness harness = ConsumerHarness.Create(
            new InMemoryStream("orders"),
            new RecordingHandler(),
            build: consumer => consumer.Services.AddSingleton<ILoggerProvider>(logs),
            sink: new JsonLinesDeadLetterSink(DeadLetterFile));
        await harness.StartAsync();

        DeadLetterRedriveReport report = await harness.Consumer.ReplayDeadLettersAsync(new DeadLetterRedriveOptions());
        Assert.Empty(report.Items);
        Assert.Contains(logs.Messages, m => m.Contains($"Dead-letter file {DeadLetterFile}: line 1 is not readable", StringComparison.Ordinal));
    }

    public void Dispose()
    {
        if (Directory.Exists(_dataDirectory))
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
    }

    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<string> Messages { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(Messages);

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<string> messages) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
                => messages.Enqueue(formatter(state, exception));
        }
    }
}
