namespace StreamLanes.Sinks;

/// <summary>
/// A dead-letter sink that appends one JSON envelope per line to a local file: the embedded default.
/// Each write is flushed to the device before it returns, so an acknowledged dead letter survives a crash.
/// </summary>
/// <remarks>
/// A crash in the middle of a write can leave a partial line; <see cref="ReadAllAsync"/> skips it (that record
/// was never acknowledged, so it is still before the checkpoint and will be processed again).
/// </remarks>
public sealed class JsonLinesDeadLetterSink : IDeadLetterSink, IAsyncDisposable
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
    public static async Task<IReadOnlyList<DeadLetterEnvelope>> ReadAllAsync(string path, CancellationToken cancellationToken = default)
    {
        var envelopes = new List<DeadLetterEnvelope>();
        if (!File.Exists(path))
        {
            return envelopes;
        }

        string[] lines = await File.ReadAllLinesAsync(path, cancellationToken).ConfigureAwait(false);
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Length == 0)
            {
                continue;
            }

            try
            {
                envelopes.Add(DeadLetterEnvelopeSerializer.Deserialize(System.Text.Encoding.UTF8.GetBytes(lines[i])));
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
