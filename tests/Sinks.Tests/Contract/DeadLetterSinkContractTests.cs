using StreamLanes.Sinks;
using StreamLanes.Sinks.Tests.Envelope;

namespace StreamLanes.Sinks.Tests.Contract;

/// <summary>The contract every <see cref="IDeadLetterSink"/> honours; one subclass per implementation.</summary>
public abstract class DeadLetterSinkContractTests
{
    protected abstract IDeadLetterSink CreateSink();

    /// <summary>Reads back everything the sink durably holds.</summary>
    protected abstract Task<IReadOnlyList<DeadLetterEnvelope>> ReadBackAsync();

    [Fact]
    public async Task Written_dead_letters_read_back_byte_for_byte()
    {
        IDeadLetterSink sink = CreateSink();
        byte[] binary = [.. Enumerable.Range(0, 256).Select(i => (byte)i)];
        byte[] text = "{\"orderId\":42,\"note\":\"ünïcødé\"}"u8.ToArray();
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample(binary, "k1", "1"), default);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample(text, "k2", "2"), default);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([], "k3", "3"), default);

        IReadOnlyList<DeadLetterEnvelope> read = await ReadBackAsync();
        Assert.Equal(3, read.Count);
        Assert.Equal(binary, read.Single(e => e.PartitionKey == "k1").Payload.ToArray());
        Assert.Equal(text, read.Single(e => e.PartitionKey == "k2").Payload.ToArray());
        Assert.Empty(read.Single(e => e.PartitionKey == "k3").Payload.ToArray());
    }

    [Fact]
    public async Task Concurrent_writes_all_land()
    {
        IDeadLetterSink sink = CreateSink();
        await Task.WhenAll(Enumerable.Range(0, 64).Select(i =>
            sink.WriteAsync(DeadLetterEnvelopeTests.Sample([(byte)i], $"k{i}", $"{i + 1}"), default).AsTask()));
        IReadOnlyList<DeadLetterEnvelope> read = await ReadBackAsync();
        Assert.Equal(64, read.Select(e => e.PartitionKey).Distinct().Count());
    }

    [Fact]
    public async Task A_cancelled_write_throws()
    {
        IDeadLetterSink sink = CreateSink();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            await sink.WriteAsync(DeadLetterEnvelopeTests.Sample(), new CancellationToken(canceled: true)));
    }
}

public sealed class InMemoryDeadLetterSinkTests : DeadLetterSinkContractTests
{
    private readonly InMemoryDeadLetterSink _sink = new();

    protected override IDeadLetterSink CreateSink() => _sink;

    protected override Task<IReadOnlyList<DeadLetterEnvelope>> ReadBackAsync() => Task.FromResult<IReadOnlyList<DeadLetterEnvelope>>([.. _sink.Envelopes]);
}

public sealed class JsonLinesDeadLetterSinkTests : DeadLetterSinkContractTests, IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), "streamlanes-tests", Guid.NewGuid().ToString("N"), "dead-letters.jsonl");

    protected override IDeadLetterSink CreateSink() => new JsonLinesDeadLetterSink(_path);

    protected override Task<IReadOnlyList<DeadLetterEnvelope>> ReadBackAsync() => JsonLinesDeadLetterSink.ReadAllAsync(_path);

    [Fact]
    public async Task A_line_cut_short_by_a_crash_is_skipped_and_later_writes_still_read()
    {
        await using (var sink = new JsonLinesDeadLetterSink(_path))
        {
            await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([1], "before", "1"), default);
        }

        string full = System.Text.Encoding.UTF8.GetString(DeadLetterEnvelopeSerializer.Serialize(DeadLetterEnvelopeTests.Sample([2], "torn", "2")));
        await File.AppendAllTextAsync(_path, full[..(full.Length / 2)]);

        await using (var sink = new JsonLinesDeadLetterSink(_path))
        {
            await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([3], "after", "3"), default);
        }

        IReadOnlyList<DeadLetterEnvelope> read = await JsonLinesDeadLetterSink.ReadAllAsync(_path);
        Assert.Equal(["before", "after"], read.Select(e => e.PartitionKey));
    }

    [Fact]
    public async Task A_complete_but_invalid_line_is_reported_by_number_not_silently_skipped_and_does_not_hide_the_rest()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        await File.WriteAllTextAsync(_path, "{\"version\":1}\n");
        await using var sink = new JsonLinesDeadLetterSink(_path);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([1], "after", "1"), default);
        JsonLinesContent content = await sink.ReadContentAsync(default);
        Assert.Equal([1], content.BadLines.Select(b => b.LineNumber));
        Assert.Equal(["after"], content.DeadLetters.Select(d => d.Envelope.PartitionKey));
    }

    public void Dispose()
    {
        string directory = Path.GetDirectoryName(_path)!;
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}

/// <summary>The store side of the contract: what a sink wrote can be read, filtered, replaced and deleted.</summary>
public abstract class DeadLetterStoreContractTests : DeadLetterSinkContractTests
{
    protected IDeadLetterStore Store => (IDeadLetterStore)CreateSink();

    protected override async Task<IReadOnlyList<DeadLetterEnvelope>> ReadBackAsync()
    {
        var read = new List<StoredDeadLetter>();
        await foreach (StoredDeadLetter letter in Store.ReadAsync(DeadLetterFilter.All))
        {
            read.Add(letter);
        }

        await Store.ReleaseAsync(read);
        return [.. read.Select(l => l.Envelope)];
    }

    [Fact]
    public async Task Read_filters_delete_removes_and_replace_keeps_the_new_version()
    {
        IDeadLetterSink sink = CreateSink();
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([1], "a", "1"), default);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([2], "b", "2") with { Reason = DeadLetterReason.NonRetryable }, default);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([3], "c", "3"), default);

        var onlyB = new List<StoredDeadLetter>();
        await foreach (StoredDeadLetter letter in Store.ReadAsync(new DeadLetterFilter { Reason = DeadLetterReason.NonRetryable }))
        {
            onlyB.Add(letter);
        }

        Assert.Equal(["b"], onlyB.Select(l => l.Envelope.PartitionKey));
        await Store.DeleteAsync(onlyB[0]);

        var onlyA = new List<StoredDeadLetter>();
        await foreach (StoredDeadLetter letter in Store.ReadAsync(new DeadLetterFilter { PartitionKey = "a", Consumer = "orders" }))
        {
            onlyA.Add(letter);
        }

        DeadLetterEnvelope updated = onlyA.Single().Envelope with
        {
            Attempts = [.. onlyA[0].Envelope.Attempts, DeadLetterAttempt.FromException(3, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, new TimeoutException("again"))],
        };
        await Store.ReplaceAsync(onlyA[0], updated);

        IReadOnlyList<DeadLetterEnvelope> all = await ReadBackAsync();
        Assert.Equal(["a", "c"], all.Select(e => e.PartitionKey).Order());
        Assert.Equal(3, all.Single(e => e.PartitionKey == "a").Attempts.Count);
        Assert.Equal([1], all.Single(e => e.PartitionKey == "a").Payload.ToArray());
    }
}

public sealed class InMemoryDeadLetterStoreTests : DeadLetterStoreContractTests
{
    private readonly InMemoryDeadLetterSink _sink = new();

    protected override IDeadLetterSink CreateSink() => _sink;
}

public sealed class JsonLinesDeadLetterStoreTests : DeadLetterStoreContractTests, IAsyncDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), "streamlanes-tests", Guid.NewGuid().ToString("N"), "dead-letters.jsonl");
    private JsonLinesDeadLetterSink? _sink;

    protected override IDeadLetterSink CreateSink() => _sink ??= new JsonLinesDeadLetterSink(_path);

    [Fact]
    public async Task Deletes_are_tombstones_so_the_file_is_never_rewritten_under_a_writer()
    {
        IDeadLetterSink sink = CreateSink();
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([1], "a", "1"), default);
        long before = new FileInfo(_path).Length;
        await foreach (StoredDeadLetter letter in Store.ReadAsync(DeadLetterFilter.All))
        {
            await Store.DeleteAsync(letter);
        }

        Assert.Equal(before, new FileInfo(_path).Length);
        Assert.Empty(await JsonLinesDeadLetterSink.ReadAllAsync(_path));
    }

    public async ValueTask DisposeAsync()
    {
        if (_sink is not null)
        {
            await _sink.DisposeAsync();
        }

        string directory = Path.GetDirectoryName(_path)!;
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
