using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace StreamLanes.Sinks;

/// <summary>
/// A dead-letter sink that appends one JSON envelope per line to a local file: the embedded default.
/// Each write is flushed to the device before it returns, so an acknowledged dead letter survives a crash.
/// </summary>
/// <remarks>
/// <para>A crash in the middle of a write can leave a partial line; <see cref="ReadAllAsync"/> skips it (that record
/// was never acknowledged, so it is still before the checkpoint and will be processed again).</para>
/// <para>As an <see cref="IDeadLetterStore"/> the file is never rewritten, because a consumer may be appending to it:
/// a deleted dead letter is recorded in a tombstone file beside it (<c>&lt;path&gt;.deleted</c>, one SHA-256 of a
/// deleted line per line), and a replaced one is appended anew and its old line tombstoned. Redrive a file from the
/// process that writes it, or while that process is stopped: two processes appending to one file can interleave.</para>
/// </remarks>
public sealed class JsonLinesDeadLetterSink : IDeadLetterSink, IDeadLetterStore, IAsyncDisposable
{
    private static readonly ReadOnlyMemory<byte> NewLine = "\n"u8.ToArray();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private FileStream? _stream;

    /// <summary>Initializes a sink that appends to <paramref name="path"/>; the file and its directory are created on first write.</summary>
    /// <param name="path">The file path, relative to the current directory or absolute.</param>
    public JsonLinesDeadLetterSink(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Path = System.IO.Path.GetFullPath(path);
    }

    /// <summary>The absolute path of the dead-letter file.</summary>
    public string Path { get; }

    /// <summary>The tombstone file: hashes of the deleted lines.</summary>
    public string TombstonePath => TombstonePathOf(Path);

    /// <inheritdoc/>
    public async ValueTask WriteAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        byte[] line = DeadLetterEnvelopeSerializer.Serialize(envelope);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            FileStream stream = _stream ??= Open();
            try
            {
                await stream.WriteAsync(line, cancellationToken).ConfigureAwait(false);
                await stream.WriteAsync(NewLine, cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }
            catch
            {
                // The file may now end in a partial line; reopen so the next write starts on a clean stream.
                _stream = null;
                await stream.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Reads every complete envelope in a dead-letter file, in write order, skipping lines cut short by a crash.</summary>
    /// <param name="path">The file.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The envelopes; empty when the file does not exist.</returns>
    /// <remarks>Lines deleted through <see cref="IDeadLetterStore"/> (listed in the tombstone file) are left out.</remarks>
    public static async Task<IReadOnlyList<DeadLetterEnvelope>> ReadAllAsync(string path, CancellationToken cancellationToken = default)
        => [.. (await ReadEntriesAsync(path, cancellationToken).ConfigureAwait(false)).Select(static e => e.Envelope)];

    /// <inheritdoc/>
    public async IAsyncEnumerable<StoredDeadLetter> ReadAsync(DeadLetterFilter filter, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        IReadOnlyList<(DeadLetterEnvelope Envelope, string Hash)> entries;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            entries = await ReadEntriesAsync(Path, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }

        foreach ((DeadLetterEnvelope envelope, string hash) in entries)
        {
            if (filter.Matches(envelope))
            {
                yield return new StoredDeadLetter(envelope, hash);
            }
        }
    }

    /// <inheritdoc/>
    public async ValueTask DeleteAsync(StoredDeadLetter deadLetter, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deadLetter);
        string hash = deadLetter.Handle as string ?? throw new ArgumentException("The dead letter was not read from a JSON-lines sink.", nameof(deadLetter));
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var tombstones = new FileStream(TombstonePath, FileMode.Append, FileAccess.Write, FileShare.Read, 4096, FileOptions.Asynchronous);
            await tombstones.WriteAsync(System.Text.Encoding.ASCII.GetBytes(hash + "\n"), cancellationToken).ConfigureAwait(false);
            tombstones.Flush(flushToDisk: true);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc/>
    public async ValueTask<StoredDeadLetter> ReplaceAsync(StoredDeadLetter deadLetter, DeadLetterEnvelope replacement, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deadLetter);
        ArgumentNullException.ThrowIfNull(replacement);
        string newHash = LineHash(DeadLetterEnvelopeSerializer.Serialize(replacement));
        if (string.Equals(newHash, deadLetter.Handle as string, StringComparison.Ordinal))
        {
            // The same line: tombstoning the old one would delete the new one too.
            return deadLetter;
        }

        // Appended before the old line is tombstoned: a failure in between leaves two versions, never none.
        await WriteAsync(replacement, cancellationToken).ConfigureAwait(false);
        await DeleteAsync(deadLetter, cancellationToken).ConfigureAwait(false);
        return new StoredDeadLetter(replacement, newHash);
    }

    /// <inheritdoc/>
    public ValueTask ReleaseAsync(IReadOnlyCollection<StoredDeadLetter> deadLetters, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    private static string TombstonePathOf(string path) => path + ".deleted";

    private static string LineHash(ReadOnlySpan<byte> line) => Convert.ToHexStringLower(SHA256.HashData(line));

    private static async Task<IReadOnlyList<(DeadLetterEnvelope Envelope, string Hash)>> ReadEntriesAsync(string path, CancellationToken cancellationToken)
    {
        var envelopes = new List<(DeadLetterEnvelope, string)>();
        if (!File.Exists(path))
        {
            return envelopes;
        }

        string tombstonePath = TombstonePathOf(path);
        var deleted = File.Exists(tombstonePath)
            ? new HashSet<string>(await File.ReadAllLinesAsync(tombstonePath, cancellationToken).ConfigureAwait(false), StringComparer.Ordinal)
            : [];
        string[] lines = await File.ReadAllLinesAsync(path, cancellationToken).ConfigureAwait(false);
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Length == 0)
            {
                continue;
            }

            try
            {
                byte[] bytes = System.Text.Encoding.UTF8.GetBytes(lines[i]);
                DeadLetterEnvelope envelope = DeadLetterEnvelopeSerializer.Deserialize(bytes);
                string hash = LineHash(bytes);
                if (!deleted.Contains(hash))
                {
                    envelopes.Add((envelope, hash));
                }
            }
            catch (System.Text.Json.JsonException) when (!lines[i].EndsWith('}'))
            {
                // A line cut short by a crash mid-write: that write was never acknowledged, so its record is still
                // before the checkpoint and was or will be processed again. A complete but invalid line still throws.
            }
        }

        return envelopes;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_stream is not null)
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
        }

        _gate.Dispose();
    }

    private FileStream Open()
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        var stream = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read, 4096, FileOptions.Asynchronous);
        if (stream.Length > 0)
        {
            // After a crash the file may end in a partial line; start on a new line so the next envelope parses.
            stream.Write("\n"u8);
        }

        return stream;
    }
}
