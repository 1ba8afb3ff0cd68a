using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace StreamLanes.DynamoDb;

/// <summary>
/// KCL's multi-stream lease key, <c>account-id:stream-name:creation-epoch:shard-id</c> (its <c>MultiStreamLease</c>):
/// the stream identifier <c>account-id:stream-name:creation-epoch</c> (KCL's <c>StreamIdentifier.serialize()</c>) and
/// the shard id joined by a colon. A single-stream lease key is the bare shard id, which has no colon.
/// </summary>
internal static class MultiStreamLeaseKey
{
    /// <summary>KCL's name for the stream identifier attribute of a multi-stream lease ("streamName" for legacy reasons).</summary>
    public const string StreamIdAttribute = "streamName";

    /// <summary>KCL's name for the bare shard id attribute of a multi-stream lease.</summary>
    public const string ShardIdAttribute = "shardId";

    /// <summary>The stream identifier as KCL serializes it.</summary>
    public static string StreamId(string accountId, string streamName, long creationEpoch)
        => string.Create(CultureInfo.InvariantCulture, $"{accountId}:{streamName}:{creationEpoch}");

    /// <summary>The lease key of <paramref name="shardId"/> of the stream <paramref name="streamId"/>.</summary>
    public static string Of(string streamId, string shardId) => streamId + ":" + shardId;

    /// <summary>
    /// Splits a multi-stream lease key into its stream identifier and shard id, with KCL's rule for the identifier
    /// (<c>[0-9]+:[^:]+:[0-9]+</c>, epoch above zero).
    /// </summary>
    /// <returns>False for a single-stream key (a bare shard id) or anything else that is not in KCL's format.</returns>
    public static bool TryParse(string leaseKey, [NotNullWhen(true)] out string? streamId, [NotNullWhen(true)] out string? shardId)
    {
        streamId = null;
        shardId = null;
        string[] parts = leaseKey.Split(':');
        if (parts.Length != 4 || parts[1].Length == 0 || parts[3].Length == 0 || !AllDigits(parts[0]) || !AllDigits(parts[2])
            || !long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out long epoch) || epoch <= 0)
        {
            return false;
        }

        streamId = string.Join(':', parts[0], parts[1], parts[2]);
        shardId = parts[3];
        return true;
    }

    /// <summary>The stream identifier of a multi-stream lease key; null for a single-stream key.</summary>
    public static string? StreamIdOf(string leaseKey) => TryParse(leaseKey, out string? streamId, out _) ? streamId : null;

    /// <summary>
    /// Shard ids as KCL stores them in a lease's <c>parentShardId</c> and <c>childShardIds</c>: bare, also in multi-stream
    /// mode (KCL adds the stream identifier when it looks a parent up). Lease keys of the lease's own stream lose it.
    /// </summary>
    public static List<string> ToStored(string leaseKey, IEnumerable<string> shardIds)
    {
        string? streamId = StreamIdOf(leaseKey);
        return streamId is null
            ? [.. shardIds]
            : [.. shardIds.Select(id => id.StartsWith(streamId + ":", StringComparison.Ordinal) ? id[(streamId.Length + 1)..] : id)];
    }

    /// <summary>The reverse of <see cref="ToStored"/>: in a multi-stream lease, bare shard ids become lease keys of its stream.</summary>
    public static List<string> FromStored(string leaseKey, IEnumerable<string> shardIds)
    {
        string? streamId = StreamIdOf(leaseKey);
        return streamId is null ? [.. shardIds] : [.. shardIds.Select(id => id.Contains(':', StringComparison.Ordinal) ? id : Of(streamId, id))];
    }

    private static bool AllDigits(string value) => value.Length > 0 && value.All(char.IsAsciiDigit);
}
