using System.Text;
using System.Text.Json;

namespace StreamLanes.Checkpointing;

/// <summary>
/// A checkpoint store in local JSON files, one per consumer and stream: the embedded default.
/// </summary>
/// <remarks>
/// Every save rewrites the file through a temporary file that is flushed to disk and then renamed over the old one,
/// so a crash mid-write leaves either the previous or the new checkpoints, never a torn file. One process owns a
/// directory, enforced: the first read or save takes an exclusive OS lock on <c>&lt;directory&gt;/.lock</c> (shared by
/// every store of this process on the directory, released on <see cref="Dispose"/> or by the OS when the process ends),
/// and a store in another process then fails with an <see cref="IOException"/> naming the directory.
/// </remarks>
public sealed class FileCheckpointStore : ICheckpointStore, IKeyStateCheckpointStore, IDisposable
{
    private const int FormatVersion = 1;
    private readonly string _directory;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, Dictionary<string, ShardEntry>> _files = new(StringComparer.Ordinal);
    private CheckpointDirectoryLock? _lock;
    private int _disposed;

    /// <summary>Initializes a store that keeps its files in <paramref name="directory"/>, created if absent.</summary>
    /// <param name="directory">The directory, relative to the current directory or absolute.</param>
    public FileCheckpointStore(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        _directory = Path.GetFullPath(directory);
    }

    /// <summary>The absolute directory the checkpoint files live in.</summary>
    public string Directory => _directory;

    /// <inheritdoc/>
    public async ValueTask<SequenceNumber> GetAsync(CheckpointKey key, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Dictionary<string, ShardEntry> shards = await LoadAsync(key, cancellationToken).ConfigureAwait(false);
            return shards.TryGetValue(key.Shard, out ShardEntry entry) ? entry.Position : SequenceNumber.None;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc/>
    public ValueTask SaveAsync(CheckpointKey key, SequenceNumber position, CancellationToken cancellationToken)
        => SaveAsync(key, position, keyState: null, cancellationToken);

    /// <summary>The file a key's checkpoint is kept in, and the field of the shard's key state, for error messages.</summary>
    internal string KeyStateLocationOf(CheckpointKey key) => $"checkpoint file '{PathOf(key)}', field shards.{key.Shard}.keyState";

    async ValueTask<(SequenceNumber Position, byte[]? KeyState)> IKeyStateCheckpointStore.GetWithKeyStateAsync(CheckpointKey key, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Dictionary<string, ShardEntry> shards = await LoadAsync(key, cancellationToken).ConfigureAwait(false);
            return shards.TryGetValue(key.Shard, out ShardEntry entry) ? (entry.Position, entry.KeyState) : (SequenceNumber.None, null);
        }
        finally
        {
            _gate.Release();
        }
    }

    ValueTask IKeyStateCheckpointStore.SaveAsync(CheckpointKey key, SequenceNumber position, byte[] keyState, CancellationToken cancellationToken)
        => SaveAsync(key, position, keyState, cancellationToken);

    // keyState: the encoded key state; null keeps the saved one, empty removes it.
    private async ValueTask SaveAsync(CheckpointKey key, SequenceNumber position, byte[]? keyState, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Dictionary<string, ShardEntry> shards = await LoadAsync(key, cancellationToken).ConfigureAwait(false);
            byte[]? state = keyState ?? (shards.TryGetValue(key.Shard, out ShardEntry saved) ? saved.KeyState : null);
            var updated = new Dictionary<string, ShardEntry>(shards, StringComparer.Ordinal)
            {
                [key.Shard] = new ShardEntry(position, state is { Length: > 0 } ? state : null),
            };
            if (position.IsNone && updated[key.Shard].KeyState is null)
            {
                // "No checkpoint" is the absence of an entry (or an entry with only a key state): a null sequence
                // number on disk is refused as corrupt.
                updated.Remove(key.Shard);
            }

            await WriteAtomicallyAsync(PathOf(key), key, updated, cancellationToken).ConfigureAwait(false);
            _files[PathOf(key)] = updated;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _lock?.Dispose();
            _gate.Dispose();
        }
    }

    /// <summary>The file a key's checkpoint is kept in.</summary>
    internal string PathOf(CheckpointKey key) => Path.Combine(_directory, $"{Escape(key.Consumer)}.{Escape(key.Stream)}.checkpoints.json");

    private async ValueTask<Dictionary<string, ShardEntry>> LoadAsync(CheckpointKey key, CancellationToken cancellationToken)
    {
        // Taken on first use, not at construction: a consumer whose checkpoints live in a lease table never touches
        // the directory, so it must not keep other processes out of it.
        _lock ??= CheckpointDirectoryLock.Acquire(_directory);
        string path = PathOf(key);
        if (_files.TryGetValue(path, out Dictionary<string, ShardEntry>? cached))
        {
            return cached;
        }

        var shards = new Dictionary<string, ShardEntry>(StringComparer.Ordinal);
        if (File.Exists(path))
        {
            byte[] bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
            try
            {
                using JsonDocument document = JsonDocument.Parse(bytes);
                JsonElement root = document.RootElement;
                int version = root.GetProperty("version").GetInt32();
                if (version != FormatVersion)
                {
                    throw new InvalidDataException($"Checkpoint file '{path}' has format version {version}; this StreamLanes reads version {FormatVersion}.");
                }

                foreach (JsonProperty shard in root.GetProperty("shards").EnumerateObject())
                {
                    byte[]? keyState = ParseKeyState(path, shard);

                    // Before the first checkpoint a shard may already have a key state (a key stuck or parked at its
                    // first record): then the entry holds the state alone.
                    SequenceNumber position = keyState is not null && !shard.Value.TryGetProperty("sequenceNumber", out _)
                        ? SequenceNumber.None
                        : ParsePosition(path, shard);
                    shards[shard.Name] = new ShardEntry(position, keyState);
                }
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                // A corrupt checkpoint must stop the consumer: starting over from the trim horizon or skipping ahead
                // would silently re-process or lose records.
                throw new InvalidDataException($"Checkpoint file '{path}' is not a valid StreamLanes checkpoint file: {ex.Message}", ex);
            }
        }

        _files[path] = shards;
        return shards;
    }

    /// <summary>
    /// Reads one shard's position, refusing every value the store never writes: a missing, null or empty sequence
    /// number (which would otherwise read as "no checkpoint" and re-process the shard from its start), one that is not
    /// decimal digits or <c>SHARD_END</c>, and a sub-sequence number that is not a whole number from 0 to 2^63-1.
    /// </summary>
    /// <exception cref="InvalidDataException">The value is invalid; the message names the file, shard, field and value.</exception>
    private static SequenceNumber ParsePosition(string path, JsonProperty shard)
    {
        const string Sequence = "sequenceNumber", SubSequence = "subSequenceNumber";
        if (shard.Value.ValueKind != JsonValueKind.Object)
        {
            throw Invalid(path, shard.Name, "shards." + shard.Name, shard.Value, "must be an object with sequenceNumber and subSequenceNumber");
        }

        string? sequence = shard.Value.TryGetProperty(Sequence, out JsonElement sequenceElement) && sequenceElement.ValueKind == JsonValueKind.String
            ? sequenceElement.GetString()
            : null;
        if (string.IsNullOrEmpty(sequence) || !(sequence == SequenceNumber.ShardEnd.Value || sequence.All(char.IsAsciiDigit)))
        {
            throw Invalid(path, shard.Name, Sequence, sequenceElement, "must be a string of decimal digits or SHARD_END");
        }

        if (!shard.Value.TryGetProperty(SubSequence, out JsonElement subElement)
            || subElement.ValueKind != JsonValueKind.Number
            || !subElement.TryGetInt64(out long subSequence)
            || subSequence < 0)
        {
            throw Invalid(path, shard.Name, SubSequence, subElement, "must be a whole number from 0 to 9223372036854775807");
        }

        return SequenceNumber.Parse(sequence, subSequence);
    }

    /// <summary>
    /// Reads a shard's optional key state (base64, written beside the checkpoint since the key state exists; files
    /// without it load as before). Only its encoding is checked here: the engine decodes it and names this field if the
    /// content is broken.
    /// </summary>
    private static byte[]? ParseKeyState(string path, JsonProperty shard)
    {
        if (!shard.Value.TryGetProperty("keyState", out JsonElement element))
        {
            return null;
        }

        if (element.ValueKind != JsonValueKind.String || !element.TryGetBytesFromBase64(out byte[]? bytes) || bytes.Length == 0)
        {
            throw Invalid(path, shard.Name, "keyState", element, "must be a non-empty base64 string");
        }

        return bytes;
    }

    private static InvalidDataException Invalid(string path, string shard, string field, JsonElement value, string rule)
    {
        string shown = value.ValueKind == JsonValueKind.Undefined ? "missing" : value.GetRawText();
        if (shown.Length > 100)
        {
            shown = string.Concat(shown.AsSpan(0, 100), $"… ({shown.Length} characters)");
        }

        return new InvalidDataException(
            $"Checkpoint file '{path}', shard '{shard}': {field} is {shown}, but it {rule}. The consumer stops rather than " +
            "re-process or skip records: correct the value, or remove the shard's entry to read the shard from its start again.");
    }

    private static async Task WriteAtomicallyAsync(string path, CheckpointKey key, Dictionary<string, ShardEntry> shards, CancellationToken cancellationToken)
    {
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 4096, FileOptions.Asynchronous);
            await using (stream.ConfigureAwait(false))
            {
                var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
                await using (writer.ConfigureAwait(false))
                {
                    writer.WriteStartObject();
                    writer.WriteNumber("version", FormatVersion);
                    writer.WriteString("consumer", key.Consumer);
                    writer.WriteString("stream", key.Stream);
                    writer.WriteStartObject("shards");
                    foreach ((string shard, ShardEntry entry) in shards.OrderBy(pair => pair.Key, StringComparer.Ordinal))
                    {
                        writer.WriteStartObject(shard);
                        if (!entry.Position.IsNone)
                        {
                            writer.WriteString("sequenceNumber", entry.Position.Value);
                            writer.WriteNumber("subSequenceNumber", entry.Position.SubSequence);
                        }

                        if (entry.KeyState is { Length: > 0 } state)
                        {
                            writer.WriteBase64String("keyState", state);
                        }

                        writer.WriteEndObject();
                    }

                    writer.WriteEndObject();
                    writer.WriteEndObject();
                    await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
                }

                // The rename below is atomic, but only the flush to the device makes the new content survive power loss.
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    private static string Escape(string name)
    {
        var builder = new StringBuilder(name.Length);
        foreach (char c in name)
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '~');
        }

        // Distinct names that escape alike must not share a file; the hash must be stable across processes.
        return builder.Append('-').Append(StableHash.Fnv1a(name).ToString("x8", System.Globalization.CultureInfo.InvariantCulture)).ToString();
    }

    /// <summary>A shard's checkpoint and its encoded key state (null: none).</summary>
    private readonly record struct ShardEntry(SequenceNumber Position, byte[]? KeyState);
}
