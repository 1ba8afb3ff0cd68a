using System.Text;
using System.Text.Json;

namespace StreamLanes.Checkpointing;

/// <summary>
/// A checkpoint store in local JSON files, one per consumer and stream: the embedded default.
/// </summary>
/// <remarks>
/// Every save rewrites the file through a temporary file that is flushed to disk and then renamed over the old one,
/// so a crash mid-write leaves either the previous or the new checkpoints, never a torn file. One process owns a
/// directory: the store does not coordinate writers across processes (use a lease-based store for that).
/// </remarks>
public sealed class FileCheckpointStore : ICheckpointStore, IDisposable
{
    private const int FormatVersion = 1;
    private readonly string _directory;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, Dictionary<string, SequenceNumber>> _files = new(StringComparer.Ordinal);

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
            Dictionary<string, SequenceNumber> shards = await LoadAsync(key, cancellationToken).ConfigureAwait(false);
            return shards.TryGetValue(key.Shard, out SequenceNumber position) ? position : SequenceNumber.None;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc/>
    public async ValueTask SaveAsync(CheckpointKey key, SequenceNumber position, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Dictionary<string, SequenceNumber> shards = await LoadAsync(key, cancellationToken).ConfigureAwait(false);
            var updated = new Dictionary<string, SequenceNumber>(shards, StringComparer.Ordinal) { [key.Shard] = position };
            await WriteAtomicallyAsync(PathOf(key), key, updated, cancellationToken).ConfigureAwait(false);
            _files[PathOf(key)] = updated;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _gate.Dispose();

    private string PathOf(CheckpointKey key) => Path.Combine(_directory, $"{Escape(key.Consumer)}.{Escape(key.Stream)}.checkpoints.json");

    private async ValueTask<Dictionary<string, SequenceNumber>> LoadAsync(CheckpointKey key, CancellationToken cancellationToken)
    {
        string path = PathOf(key);
        if (_files.TryGetValue(path, out Dictionary<string, SequenceNumber>? cached))
        {
            return cached;
        }

        var shards = new Dictionary<string, SequenceNumber>(StringComparer.Ordinal);
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
                    shards[shard.Name] = SequenceNumber.Parse(
                        shard.Value.GetProperty("sequenceNumber").GetString(),
                        shard.Value.GetProperty("subSequenceNumber").GetInt64());
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

    private static async Task WriteAtomicallyAsync(string path, CheckpointKey key, Dictionary<string, SequenceNumber> shards, CancellationToken cancellationToken)
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
                    foreach ((string shard, SequenceNumber position) in shards.OrderBy(pair => pair.Key, StringComparer.Ordinal))
                    {
                        writer.WriteStartObject(shard);
                        writer.WriteString("sequenceNumber", position.Value);
                        writer.WriteNumber("subSequenceNumber", position.SubSequence);
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
}
