using System.Security.Cryptography;
using System.Text.Json;

namespace StreamLanes.Sinks;

/// <summary>
/// One JSON-lines dead-letter file as this process sees it: the single writer, the lock that keeps other processes
/// out, and the gate every reader and writer of the file in this process goes through. Shared, reference-counted,
/// by every <see cref="JsonLinesDeadLetterSink"/> on the same full path, so two sinks on one file never interleave.
/// </summary>
internal sealed class JsonLinesFile
{
    private static readonly Dictionary<string, JsonLinesFile> Open = new(StringComparer.Ordinal);
    private FileStream? _writer;
    private ExclusiveFileLock? _lock;
    private int _references;
    private int _holders;

    private JsonLinesFile(string path) => Path = path;

    public string Path { get; }

    public string TombstonePath => Path + ".deleted";

    public string QuarantinePath => Path + ".quarantine";

    public string LockPath => Path + ".lock";

    /// <summary>Serializes every read and write of the file in this process.</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    /// <summary>Hashes of bad lines already reported, so a redrive's repeated reads warn once per line.</summary>
    public HashSet<string> ReportedBadLines { get; } = new(StringComparer.Ordinal);

    public bool HoldsLock => _lock is not null;

    public static JsonLinesFile Join(string fullPath)
    {
        lock (Open)
        {
            if (!Open.TryGetValue(fullPath, out JsonLinesFile? file))
            {
                file = new JsonLinesFile(fullPath);
                Open[fullPath] = file;
            }

            file._references++;
            return file;
        }
    }

    /// <summary>Leaves the file; the last sink to leave closes the writer and releases the lock.</summary>
    public async ValueTask LeaveAsync()
    {
        lock (Open)
        {
            if (--_references > 0)
            {
                return;
            }

            Open.Remove(Path);
        }

        await Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            await CloseWriterAsync().ConfigureAwait(false);
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>Takes the cross-process lock if this process does not hold it yet. Call under <see cref="Gate"/>.</summary>
    /// <exception cref="IOException">Another process writes the file.</exception>
    public void EnsureLocked()
    {
        if (_lock is not null)
        {
            return;
        }

        try
        {
            _lock = ExclusiveFileLock.Acquire(LockPath);
        }
        catch (IOException ex)
        {
            throw new IOException(
                $"The dead-letter file '{Path}' is in use by another process (it holds the lock file '{LockPath}'). " +
                "Only one process may write a dead-letter file: run one process per data directory, and redrive a running " +
                "consumer's dead letters through that consumer (or after stopping it).",
                ex);
        }
    }

    /// <summary>The append stream, opened (with the lock) on first use. Call under <see cref="Gate"/>.</summary>
    public FileStream Writer()
    {
        if (_writer is not null)
        {
            return _writer;
        }

        EnsureLocked();
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        bool needsNewLine = EndsWithoutNewLine(Path);
        var stream = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read, 4096, FileOptions.Asynchronous);
        if (needsNewLine)
        {
            // After a crash the file may end in a partial line; start on a new line so the next envelope parses.
            stream.Write("\n"u8);
        }

        _writer = stream;
        return stream;
    }

    /// <summary>Drops a writer whose last write failed, so the next write starts on a fresh stream. Call under <see cref="Gate"/>.</summary>
    public async ValueTask DiscardWriterAsync()
    {
        if (_writer is { } writer)
        {
            _writer = null;
            await writer.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A consumer holds the lock for its life: taken now, kept until every holder let go. Call under <see cref="Gate"/>.</summary>
    /// <exception cref="IOException">Another process writes the file.</exception>
    public void Hold()
    {
        EnsureLocked();
        _holders++;
    }

    /// <summary>A holder lets go; the last one closes the writer and releases the lock. Call under <see cref="Gate"/>.</summary>
    public async ValueTask LetGoAsync()
    {
        if (_holders > 0 && --_holders == 0)
        {
            await CloseWriterAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Closes the writer and releases the lock; the next write takes both again. Call under <see cref="Gate"/>.</summary>
    public async ValueTask CloseWriterAsync()
    {
        await DiscardWriterAsync().ConfigureAwait(false);
        _lock?.Dispose();
        _lock = null;
    }

    /// <summary>Appends lines to a side file (tombstones, quarantine) and flushes them to the device. Call under <see cref="Gate"/>.</summary>
    public static async Task AppendLinesAsync(string path, IEnumerable<ReadOnlyMemory<byte>> lines, CancellationToken cancellationToken)
    {
        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, 4096, FileOptions.Asynchronous);
        await using (stream.ConfigureAwait(false))
        {
            if (stream.Length > 0 && EndsWithoutNewLine(path))
            {
                await stream.WriteAsync("\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
            }

            foreach (ReadOnlyMemory<byte> line in lines)
            {
                await stream.WriteAsync(line, cancellationToken).ConfigureAwait(false);
                await stream.WriteAsync("\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
            }

            stream.Flush(flushToDisk: true);
        }
    }

    /// <summary>
    /// Reads the file: every line that parses (less the tombstoned ones), one entry per dead-letter id (the last line
    /// written for it wins; the entry's handle covers every copy), and every line that does not parse, by line number.
    /// </summary>
    public static async Task<JsonLinesContent> ReadAsync(string path, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            return new JsonLinesContent([], []);
        }

        string tombstonePath = path + ".deleted";
        HashSet<string> deleted = File.Exists(tombstonePath)
            ? new HashSet<string>(await File.ReadAllLinesAsync(tombstonePath, cancellationToken).ConfigureAwait(false), StringComparer.Ordinal)
            : [];
        byte[] bytes;

        // Shared for writing: the file is read while this process (or, for the CLI, a consumer) appends to it.
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 4096, FileOptions.Asynchronous);
        await using (stream.ConfigureAwait(false))
        {
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
            bytes = buffer.ToArray();
        }

        var byId = new Dictionary<string, (DeadLetterEnvelope Envelope, List<string> Hashes, int Line)>(StringComparer.Ordinal);
        var bad = new List<BadLine>();
        int lineNumber = 0;
        for (int start = 0; start < bytes.Length;)
        {
            int end = Array.IndexOf(bytes, (byte)'\n', start);
            int next = end < 0 ? bytes.Length : end + 1;
            ReadOnlyMemory<byte> line = bytes.AsMemory(start, (end < 0 ? bytes.Length : end) - start);
            start = next;
            lineNumber++;
            if (line.Span.Trim(" \t\r"u8).IsEmpty)
            {
                continue;
            }

            string hash = LineHash(line.Span);
            if (deleted.Contains(hash))
            {
                continue;
            }

            DeadLetterEnvelope envelope;
            try
            {
                envelope = DeadLetterEnvelopeSerializer.Deserialize(line.Span);
            }
            catch (Exception ex) when (ex is JsonException or FormatException or ArgumentException or InvalidOperationException or NotSupportedException)
            {
                bad.Add(new BadLine(lineNumber, hash, line, Describe(line.Span, ex)));
                continue;
            }

            if (byId.TryGetValue(envelope.Id, out var seen))
            {
                // A crash between a dead letter's write and the checkpoint writes it again when the record is
                // re-processed: one entry per id, whose handle reaches every copy.
                if (!seen.Hashes.Contains(hash))
                {
                    seen.Hashes.Add(hash);
                }

                byId[envelope.Id] = (envelope, seen.Hashes, lineNumber);
            }
            else
            {
                byId[envelope.Id] = (envelope, [hash], lineNumber);
            }
        }

        return new JsonLinesContent(
            [.. byId.Values.OrderBy(static e => e.Line).Select(static e => new StoredDeadLetter(e.Envelope, new JsonLinesHandle([.. e.Hashes])))],
            bad);
    }

    public static string LineHash(ReadOnlySpan<byte> line) => Convert.ToHexStringLower(SHA256.HashData(line));

    private static string Describe(ReadOnlySpan<byte> line, Exception ex)
    {
        // Never the line's text: it may hold a payload.
        if (line.TrimEnd(" \t\r"u8) is var trimmed && (trimmed.IsEmpty || trimmed[^1] != (byte)'}'))
        {
            return "incomplete JSON (a line cut short, e.g. by a crash during a write)";
        }

        return ex is JsonException { BytePositionInLine: { } position }
            ? $"not a valid dead-letter envelope (JSON error at byte {position})"
            : $"not a valid dead-letter envelope ({ex.GetType().Name})";
    }

    private static bool EndsWithoutNewLine(string path)
    {
        if (!File.Exists(path))
        {
            return false;
        }

        using var read = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (read.Length == 0)
        {
            return false;
        }

        read.Seek(-1, SeekOrigin.End);
        return read.ReadByte() != '\n';
    }
}

/// <summary>The handle of a JSON-lines dead letter: the hashes of every line that holds it (more than one after a crash).</summary>
/// <param name="Hashes">The SHA-256 of each line.</param>
internal sealed record JsonLinesHandle(IReadOnlyList<string> Hashes);

/// <summary>A line of a dead-letter file that does not parse as an envelope.</summary>
/// <param name="LineNumber">The line number, from 1.</param>
/// <param name="Hash">The SHA-256 of the line, as tombstones record it.</param>
/// <param name="Bytes">The raw line.</param>
/// <param name="Problem">Why it does not parse, without its content.</param>
internal sealed record BadLine(int LineNumber, string Hash, ReadOnlyMemory<byte> Bytes, string Problem);

/// <summary>What a dead-letter file holds.</summary>
/// <param name="DeadLetters">One entry per dead-letter id, in file order.</param>
/// <param name="BadLines">Lines that do not parse, kept in the file.</param>
internal sealed record JsonLinesContent(IReadOnlyList<StoredDeadLetter> DeadLetters, IReadOnlyList<BadLine> BadLines);
