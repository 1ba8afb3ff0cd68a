using System.Globalization;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;

namespace StreamLanes.Checkpointing;

/// <summary>
/// Which of its parents' parked keys a child shard takes over at <c>SHARD_END</c>: after a split, a key stays parked
/// in the child that can receive its records; after a merge, the child takes the union.
/// </summary>
internal static class ParkedKeyInheritance
{
    /// <summary>
    /// The parked keys of <paramref name="parents"/> (their saved key states at <c>SHARD_END</c>) that can appear in a
    /// child owning the hash keys from <paramref name="startingHashKey"/> to <paramref name="endingHashKey"/>. Without a
    /// hash range (DynamoDB Streams hides its mapping), with custom lane keys (a lane key is not a partition key), or
    /// for a key parked by a KPL user record past the first (its hash is its aggregate's, not its own), every key is
    /// inherited: a key parked in a child that never sees it costs a few bytes, one missing would break its order.
    /// </summary>
    public static IReadOnlyList<ParkedKeyState> Select(IEnumerable<ShardKeyState> parents, string? startingHashKey, string? endingHashKey)
    {
        ArgumentNullException.ThrowIfNull(parents);
        bool ranged = BigInteger.TryParse(startingHashKey, NumberStyles.None, CultureInfo.InvariantCulture, out BigInteger start)
            & BigInteger.TryParse(endingHashKey, NumberStyles.None, CultureInfo.InvariantCulture, out BigInteger end);
        var inherited = new Dictionary<string, ParkedKeyState>(StringComparer.Ordinal);
        foreach (ShardKeyState parent in parents)
        {
            foreach (ParkedKeyState key in parent.ParkedKeys)
            {
                bool mayAppear = !ranged || parent.CustomLaneKey || key.Position.SubSequence > 0 || HashKeyOf(key.Key) is var hash && hash >= start && hash <= end;
                if (mayAppear)
                {
                    // A key parked in both parents of a merge keeps the earlier dead letter: its backlog starts there.
                    if (!inherited.TryGetValue(key.Key, out ParkedKeyState? known) || key.Position.CompareTo(known.Position) < 0)
                    {
                        inherited[key.Key] = key;
                    }
                }
            }
        }

        return [.. inherited.Values.OrderBy(key => key.Key, StringComparer.Ordinal)];
    }

    /// <summary>The hash key Kinesis maps a partition key to: the MD5 of its UTF-8 bytes as an unsigned 128-bit big-endian integer.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5351", Justification = "Kinesis's own key-to-shard mapping, not a security use.")]
    public static BigInteger HashKeyOf(string partitionKey)
        => new(MD5.HashData(Encoding.UTF8.GetBytes(partitionKey)), isUnsigned: true, isBigEndian: true);
}
