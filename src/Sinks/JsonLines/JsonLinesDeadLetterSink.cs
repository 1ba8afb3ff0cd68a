using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace StreamLanes.Sinks;

/// <summary>
/// A dead-letter sink that appends one JSON envelope per line to a local file: the embedded default.
/// Each write is flushed to the device before it returns, so an acknowledged dead letter survives a crash.
/// </summary>
/// <remarks>
/// <para>One writer per file, enforced. Every sink on the same path in one process shares one writer (and one gate
/// for reads and writes), so two instances never interleave. Across processes, the first write (or a consumer's
/// start) takes an exclusive OS lock on <c>&lt;path&gt;.lock</c>, held until the last sink on the path in this process
/// is disposed (or its consumer stops); another process that tries to write gets an <see cref="IOException"/> naming
/// the file. The OS releases the lock when the process ends, crash included. Reading needs no lock.</para>
/// <para>A line that does not parse (a crash mid-write leaves a partial last line; a disk or an editor can damage any
/// line) is skipped with a warning naming the file and the line number, and kept in the file: it never makes the
/// rest unreadable, and nothing removes it silently (the CLI's <c>dlq check</c> lists such lines and
/// <c>dlq quarantine</c> moves them to <c>&lt;path&gt;.quarantine</c>).</para>
/// <para>A crash between a dead letter's write and the next checkpoint writes the dead letter again when its record
/// is re-processed: reads return one entry per dead-letter id (the last line written for it), and deleting it
/// deletes every copy.</para>
/// <para>As an <see cref="IDeadLetterStore"/> the file is never rewritten: a deleted dead letter is recorded in a
/// tombstone file beside it (<c>&lt;path&gt;.deleted</c>, one SHA-256 of a deleted line per line), and a replaced one
/// is appended anew and its old lines tombstoned.</para>
/// </remarks>
public sealed class JsonLinesDeadLetterSink : IDeadLetterSink, IDeadLetterStore, IAsyncDisposable
{
    private static readonly ReadOnlyMemory<byte> NewLine = "\n"u8.ToArray();
    private readonly JsonLinesFile _file;
    private ILogger _logger;
    private int _disposed;
    private bool _holding;

    /// <summary>Initializes a sink that appends to <paramref name="path"/>; the file and its directory are created on first write.</summary>
    /// <param name="path">The file path, relative to the current directory or absolute.</param>
    public JsonLinesDeadLetterSink(string path)
        : this(path, null)
    {
    }

    /// <summary>Initializes a sink that appends to <paramref name="path"/> and logs lines it cannot read to <paramref name="logger"/>.</summary>
    /// <param name="path">The file path, relative to the current directory or absolute.</param>
    /// <param name="logger">Receives a warning per unreadable line (file and line number, never its content); none when <see langword="null"/>.</param>
    public JsonLinesDeadLetterSink(string path, ILogger? logger)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Path = System.IO.Path.GetFullPath(path);
        _logger = logger ?? NullLogger.Instance;
        _file = JsonLinesFile.Join(Path);
    }

    /// <summary>The absolute path of the dead-letter file.</summary>
    public string Path { get; }

    /// <summary>The tombstone file: hashes of the deleted lines.</summary>
    public string TombstonePath => _file.TombstonePath;

    /// <summary>The lock file another process's writer is refused by: <c>&lt;path&gt;.lock</c>.</summary>
    public string LockPath => _file.LockPath;

    /// <summary>The file unreadable lines are moved to by a quarantine: <c>&lt;path&gt;.quarantine</c>.</summary>
    public string QuarantinePath => _file.QuarantinePath;

    /// <inheritdoc/>
    public async ValueTask WriteAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        byte[] line = DeadLetterEnvelopeSerializer.Serialize(envelope);
        await _file.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            FileStream stream = _file.Writer();
            try
            {
                await stream.WriteAsync(line, cancellationToken).ConfigureAwait(false);
                await stream.WriteAsync(NewLine, cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }
            catch
            {
                // The file may now end in a partial line; the next write reopens and starts on a new line.
                await _file.DiscardWriterAsync().ConfigureAwait(false);
                throw;
            }
        }
        finally
        {
            _file.Gate.Release();
        }
    }

    /// <summary>Reads every envelope in a dead-letter file, one per dead-letter id, in write order, skipping lines that do not parse.</summary>
    /// <param name="path">The file.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The envelopes; empty when the file does not exist.</returns>
    /// <remarks>Lines deleted through <see cref="IDeadLetterStore"/> (listed in the tombstone file) are left out.</remarks>
    public static async Task<IReadOnlyList<DeadLetterEnvelope>> ReadAllAsync(string path, CancellationToken cancellationToken = default)
    {
        var sink = new JsonLinesDeadLetterSink(path);
        await using (sink.ConfigureAwait(false))
        {
            JsonLinesContent content = await sink.ReadContentAsync(cancellationToken).ConfigureAwait(false);
            return [.. content.DeadLetters.Select(static d => d.Envelope)];
        }
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<StoredDeadLetter> ReadAsync(DeadLetterFilter filter, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        JsonLinesContent content = await ReadContentAsync(cancellationToken).ConfigureAwait(false);
        foreach (StoredDeadLetter letter in content.DeadLetters)
        {
            if (filter.Matches(letter.Envelope))
            {
                yield return letter;
            }
        }
    }

    /// <inheritdoc/>
    public async ValueTask DeleteAsync(StoredDeadLetter deadLetter, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deadLetter);
        JsonLinesHandle handle = HandleOf(deadLetter);
        await TombstoneAsync(handle.Hashes, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask<StoredDeadLetter> ReplaceAsync(StoredDeadLetter deadLetter, DeadLetterEnvelope replacement, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deadLetter);
        ArgumentNullException.ThrowIfNull(replacement);
        JsonLinesHandle handle = HandleOf(deadLetter);
        string newHash = JsonLinesFile.LineHash(DeadLetterEnvelopeSerializer.Serialize(replacement));

        // Appended before the old lines are tombstoned: a failure in between leaves two versions, never none. A line
        // identical to the replacement is not tombstoned: that would delete the new one too.
        if (!handle.Hashes.Contains(newHash, StringComparer.Ordinal))
        {
            await WriteAsync(replacement, cancellationToken).ConfigureAwait(false);
        }

        await TombstoneAsync([.. handle.Hashes.Where(h => !string.Equals(h, newHash, StringComparison.Ordinal))], cancellationToken).ConfigureAwait(false);
        return new StoredDeadLetter(replacement, new JsonLinesHandle([newHash]));
    }

    /// <inheritdoc/>
    public ValueTask ReleaseAsync(IReadOnlyCollection<StoredDeadLetter> deadLetters, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await ReleaseWriterLockAsync().ConfigureAwait(false);
            await _file.LeaveAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Logs to <paramref name="logger"/> when the sink was built without one (a consumer hands it its own).</summary>
    internal void UseLoggerIfNone(ILogger logger)
    {
        if (ReferenceEquals(_logger, NullLogger.Instance))
        {
            _logger = logger;
        }
    }

    /// <summary>Takes the cross-process writer lock now instead of at the first write (a consumer does this at start).</summary>
    /// <exception cref="IOException">Another process writes the file; the message names it.</exception>
    internal void AcquireWriterLock()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        _file.Gate.Wait();
        try
        {
            if (!_holding)
            {
                _file.Hold();
                _holding = true;
            }
        }
        finally
        {
            _file.Gate.Release();
        }
    }

    /// <summary>
    /// Lets go of the hold taken by <see cref="AcquireWriterLock"/> (a consumer does this when it stops); once no sink
    /// of this process holds the file, the file is closed and the lock released. A later write takes them again.
    /// </summary>
    internal async ValueTask ReleaseWriterLockAsync()
    {
        await _file.Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_holding)
            {
                _holding = false;
                await _file.LetGoAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _file.Gate.Release();
        }
    }

    /// <summary>Reads the file: its dead letters (one per id) and its unreadable lines, each of which is logged once.</summary>
    internal async Task<JsonLinesContent> ReadContentAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        JsonLinesContent content;
        await _file.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            content = await JsonLinesFile.ReadAsync(Path, cancellationToken).ConfigureAwait(false);
            foreach (BadLine bad in content.BadLines)
            {
                if (_file.ReportedBadLines.Add($"{bad.LineNumber}:{bad.Hash}"))
                {
                    SinkLog.UnreadableLine(_logger, Path, bad.LineNumber, bad.Problem);
                }
            }
        }
        finally
        {
            _file.Gate.Release();
        }

        return content;
    }

    /// <summary>
    /// Moves every unreadable line to <see cref="QuarantinePath"/>: appends it there (flushed), then tombstones it, so
    /// it is never lost and no longer read.
    /// </summary>
    /// <returns>The lines moved.</returns>
    /// <exception cref="IOException">Another process writes the file.</exception>
    internal async Task<IReadOnlyList<BadLine>> QuarantineAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await _file.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _file.EnsureLocked();
            JsonLinesContent content = await JsonLinesFile.ReadAsync(Path, cancellationToken).ConfigureAwait(false);
            if (content.BadLines.Count == 0)
            {
                return [];
            }

            // Copied before tombstoned: a failure in between leaves a line in both places, never in neither.
            await JsonLinesFile.AppendLinesAsync(QuarantinePath, content.BadLines.Select(static b => b.Bytes), cancellationToken).ConfigureAwait(false);
            await JsonLinesFile.AppendLinesAsync(TombstonePath, content.BadLines.Select(static b => (ReadOnlyMemory<byte>)System.Text.Encoding.ASCII.GetBytes(b.Hash)), cancellationToken).ConfigureAwait(false);
            foreach (BadLine bad in content.BadLines)
            {
                SinkLog.LineQuarantined(_logger, Path, bad.LineNumber, QuarantinePath);
            }

            return content.BadLines;
        }
        finally
        {
            _file.Gate.Release();
        }
    }

    private static JsonLinesHandle HandleOf(StoredDeadLetter deadLetter)
        => deadLetter.Handle as JsonLinesHandle ?? throw new ArgumentException("The dead letter was not read from a JSON-lines sink.", nameof(deadLetter));

    private async ValueTask TombstoneAsync(IReadOnlyList<string> hashes, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (hashes.Count == 0)
        {
            return;
        }

        await _file.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _file.EnsureLocked();
            await JsonLinesFile.AppendLinesAsync(TombstonePath, hashes.Select(static h => (ReadOnlyMemory<byte>)System.Text.Encoding.ASCII.GetBytes(h)), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _file.Gate.Release();
        }
    }
}
