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
}
