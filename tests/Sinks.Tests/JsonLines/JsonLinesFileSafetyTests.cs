using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using StreamLanes.Sinks.Tests.Envelope;

namespace StreamLanes.Sinks.Tests.JsonLines;

/// <summary>One writer per file, unreadable lines skipped with a word and never dropped, one entry per dead-letter id.</summary>
public sealed class JsonLinesFileSafetyTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "streamlanes-tests", Guid.NewGuid().ToString("N"));

    private string FilePath => Path.Combine(_directory, "dead-letters", "orders.jsonl");

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public async Task Two_sinks_on_one_file_lose_no_acknowledged_write(int run)
    {
        const int Writes = 200;
        var first = new JsonLinesDeadLetterSink(FilePath);
        var second = new JsonLinesDeadLetterSink(Path.Combine(_directory, "dead-letters", ".", "orders.jsonl"));
        var acknowledged = new ConcurrentBag<string>();
        await Task.WhenAll(Enumerable.Range(0, Writes).Select(i => Task.Run(async () =>
        {
            // Alternating sinks, all at once: two independent append streams would overwrite each other's lines.
            JsonLinesDeadLetterSink sink = i % 2 == 0 ? first : second;
            await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([(byte)i], $"k{i % 7}", $"{(run * 1000) + i}"), default);
            acknowledged.Add($"{(run * 1000) + i}");
        })));
        await first.DisposeAsync();

        // The second sink still works after the first left: the shared writer stays open for it.
        await second.WriteAsync(DeadLetterEnvelopeTests.Sample([1], "after", "999999"), default);
        await second.DisposeAsync();

        IReadOnlyList<DeadLetterEnvelope> read = await JsonLinesDeadLetterSink.ReadAllAsync(FilePath);
        Assert.Equal(acknowledged.Order().Append("999999").Order(), read.Select(e => e.SequenceNumber).Order());
        string[] lines = await File.ReadAllLinesAsync(FilePath);
        Assert.Equal(Writes + 1, lines.Count(l => l.Length > 0));
        Assert.All(lines.Where(l => l.Length > 0), l => DeadLetterEnvelopeSerializer.Deserialize(Encoding.UTF8.GetBytes(l)));
    }

    [Fact]
    public async Task The_writer_holds_an_OS_lock_until_the_last_sink_on_the_file_is_disposed()
    {
        var first = new JsonLinesDeadLetterSink(FilePath);
        var second = new JsonLinesDeadLetterSink(FilePath);
        await first.WriteAsync(DeadLetterEnvelopeTests.Sample([1], "a", "1"), default);
        Assert.True(File.Exists(first.LockPath));

        // Any other opener of the lock file is refused by the OS (flock on Unix), as another process would be.
        Assert.ThrowsAny<IOException>(() => new FileStream(first.LockPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None).Dispose());
        await first.DisposeAsync();
        Assert.ThrowsAny<IOException>(() => new FileStream(first.LockPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None).Dispose());
        await second.DisposeAsync();

        using (new FileStream(first.LockPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
            // Released: the next process may write.
        }
    }

    [Fact]
    public async Task Two_consumers_of_one_process_on_one_file_keep_it_locked_until_both_stopped()
    {
        await using var first = new JsonLinesDeadLetterSink(FilePath);
        await using var second = new JsonLinesDeadLetterSink(FilePath);
        first.AcquireWriterLock();
        second.AcquireWriterLock();
        await first.WriteAsync(DeadLetterEnvelopeTests.Sample([1], "a", "1"), default);

        await first.ReleaseWriterLockAsync();
        Assert.ThrowsAny<IOException>(() => new FileStream(first.LockPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None).Dispose());
        await second.WriteAsync(DeadLetterEnvelopeTests.Sample([2], "b", "2"), default);

        await second.ReleaseWriterLockAsync();
        using (new FileStream(first.LockPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
        }

        Assert.Equal(2, (await JsonLinesDeadLetterSink.ReadAllAsync(FilePath)).Count);
    }

    [Fact]
    public async Task Torn_and_garbage_lines_are_skipped_with_a_warning_naming_file_and_line_and_the_rest_still_reads()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(FilePath)!);
        byte[] Line(string key, string sequence) => DeadLetterEnvelopeSerializer.Serialize(DeadLetterEnvelopeTests.Sample([1], key, sequence));
        byte[] torn = Line("torn", "9");
        await File.WriteAllBytesAsync(FilePath, [
            .. Line("a", "1"), (byte)'\n',
            .. "this is not json\n"u8,
            .. Line("b", "2"), (byte)'\n',
            .. "{\"version\":1}\n"u8,
            .. new byte[] { 0xFF, 0xFE, 0x00, (byte)'{', (byte)'}', (byte)'\n' },
            .. torn.AsSpan(0, torn.Length / 2),
        ]);
        var logger = new ListLogger();
        await using (var sink = new JsonLinesDeadLetterSink(FilePath, logger))
        {
            Assert.Equal(["a", "b"], (await ReadAsync(sink)).Select(e => e.PartitionKey));

            // Written after the torn line, on a line of its own.
            await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([3], "c", "3"), default);
            Assert.Equal(["a", "b", "c"], (await ReadAsync(sink)).Select(e => e.PartitionKey));
        }

        Assert.Equal([2, 4, 5, 6], logger.Warnings.Select(w => w.Line).Order());
        Assert.All(logger.Warnings, w => Assert.Contains(FilePath, w.Message, StringComparison.Ordinal));
        Assert.Contains(logger.Warnings, w => w.Line == 6 && w.Message.Contains("cut short", StringComparison.Ordinal));
        Assert.DoesNotContain(logger.Warnings, w => w.Message.Contains("not json", StringComparison.Ordinal));
        Assert.Equal(["a", "b", "c"], (await JsonLinesDeadLetterSink.ReadAllAsync(FilePath)).Select(e => e.PartitionKey));
    }

    [Fact]
    public async Task A_purge_keeps_unreadable_lines_and_a_quarantine_moves_them_aside_without_losing_a_byte()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(FilePath)!);
        byte[] garbage = [.. "{\"consumer\":\"orders\",\"payload\":\"c2VjcmV0\""u8];
        await File.WriteAllBytesAsync(FilePath, [.. DeadLetterEnvelopeSerializer.Serialize(DeadLetterEnvelopeTests.Sample([1], "a", "1")), (byte)'\n', .. garbage, (byte)'\n']);
        await using var sink = new JsonLinesDeadLetterSink(FilePath);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([2], "b", "2"), default);

        DeadLetterRedriveReport purged = await new DeadLetterRedriver(sink).PurgeAsync(new DeadLetterRedriveOptions());
        Assert.Equal(2, purged.Counts[DeadLetterOutcome.Purged]);
        JsonLinesContent content = await sink.ReadContentAsync(default);
        Assert.Empty(content.DeadLetters);
        Assert.Equal([2], content.BadLines.Select(b => b.LineNumber));

        IReadOnlyList<BadLine> moved = await sink.QuarantineAsync(default);
        Assert.Equal([2], moved.Select(b => b.LineNumber));
        byte[] quarantined = await File.ReadAllBytesAsync(sink.QuarantinePath);
        Assert.Equal([.. garbage, (byte)'\n'], quarantined);
        Assert.Empty((await sink.ReadContentAsync(default)).BadLines);
        Assert.Contains("c2VjcmV0", await File.ReadAllTextAsync(FilePath), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Copies_of_one_dead_letter_read_as_one_entry_and_a_delete_removes_every_copy()
    {
        await using var sink = new JsonLinesDeadLetterSink(FilePath);
        DeadLetterEnvelope letter = DeadLetterEnvelopeTests.Sample([1], "a", "1");
        await sink.WriteAsync(letter, default);
        await sink.WriteAsync(letter, default);
        await sink.WriteAsync(letter with { DeadLetteredAt = letter.DeadLetteredAt.AddMinutes(1) }, default);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([2], "b", "2"), default);

        List<StoredDeadLetter> read = await ReadStoredAsync(sink);
        Assert.Equal(["a", "b"], read.Select(r => r.Envelope.PartitionKey));
        Assert.Equal(letter.DeadLetteredAt.AddMinutes(1), read[0].Envelope.DeadLetteredAt);

        await sink.DeleteAsync(read[0]);
        Assert.Equal(["b"], (await JsonLinesDeadLetterSink.ReadAllAsync(FilePath)).Select(e => e.PartitionKey));
    }

    private static async Task<List<DeadLetterEnvelope>> ReadAsync(JsonLinesDeadLetterSink sink)
        => [.. (await ReadStoredAsync(sink)).Select(s => s.Envelope)];

    private static async Task<List<StoredDeadLetter>> ReadStoredAsync(JsonLinesDeadLetterSink sink)
    {
        var read = new List<StoredDeadLetter>();
        await foreach (StoredDeadLetter letter in sink.ReadAsync(DeadLetterFilter.All))
        {
            read.Add(letter);
        }

        return read;
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private sealed class ListLogger : ILogger
    {
        public ConcurrentQueue<(int Line, string Message)> All { get; } = new();

        public IEnumerable<(int Line, string Message)> Warnings => All;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel == LogLevel.Warning && state is IReadOnlyList<KeyValuePair<string, object?>> values
                && values.FirstOrDefault(v => v.Key == "LineNumber").Value is int line)
            {
                All.Enqueue((line, formatter(state, exception)));
            }
        }
    }
}
