namespace StreamLanes.Checkpointing;

/// <summary>
/// FNV-1a over a string's UTF-16 code units: the same value in every process and run, unlike
/// <see cref="string.GetHashCode()"/>, for names that end up on disk or decide where a record goes.
/// </summary>
internal static class StableHash
{
    public static uint Fnv1a(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        uint hash = 2166136261;
        foreach (char c in value)
        {
            hash = (hash ^ c) * 16777619;
        }

        return hash;
    }

    /// <summary>FNV-1a, 64 bits, over the UTF-16 code units: for lane keys in a saved key state, where a 32-bit hash would collide too often.</summary>
    public static ulong Fnv1a64(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        ulong hash = 14695981039346656037;
        foreach (char c in value)
        {
            hash = (hash ^ (byte)c) * 1099511628211;
            hash = (hash ^ (byte)(c >> 8)) * 1099511628211;
        }

        return hash;
    }
}
