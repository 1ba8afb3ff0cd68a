using System.Globalization;
using System.Text;
using StreamLanes.Checkpointing;

namespace StreamLanes;

/// <summary>
/// The rule for consumer names, which become file names (dead letters, checkpoints), configuration section names and
/// metric tags: 1 to 128 ASCII letters, digits, '-', '_' or '.', and not "." or "..".
/// </summary>
internal static class ConsumerNames
{
    public const int MaxLength = 128;

    public const string Rule = "1 to 128 ASCII letters, digits, '-', '_' or '.', and not '.' or '..'";

    public static bool IsValid(string? name)
        => name is { Length: >= 1 and <= MaxLength } and not "." and not ".."
            && name.All(static c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>Throws when <paramref name="name"/> breaks the rule; the message shows the name escaped.</summary>
    /// <exception cref="ArgumentException">The name is invalid.</exception>
    public static void Validate(string? name, string parameterName)
    {
        if (!IsValid(name))
        {
            throw new ArgumentException($"The stream consumer name {Show(name)} is invalid: a name is {Rule}, because it becomes a file name.", parameterName);
        }
    }

    /// <summary>
    /// A file name for <paramref name="name"/> that stays in its directory: a valid name as it is; anything else (a name
    /// that bypassed registration) escaped, with a stable hash so that distinct names never share a file.
    /// </summary>
    public static string ToFileName(string name)
    {
        if (IsValid(name))
        {
            return name;
        }

        var builder = new StringBuilder(Math.Min(name.Length, 64) + 9);
        foreach (char c in name.Length > 64 ? name[..64] : name)
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '~');
        }

        return builder.Append('-').Append(StableHash.Fnv1a(name).ToString("x8", CultureInfo.InvariantCulture)).ToString();
    }

    /// <summary>Joins a directory and a file name built from a consumer name, and checks the result is inside the directory.</summary>
    /// <exception cref="InvalidOperationException">The path would leave the directory (never for an escaped name).</exception>
    public static string PathInside(string directory, string fileName)
    {
        string root = Path.GetFullPath(directory);
        string path = Path.GetFullPath(Path.Combine(root, fileName));
        if (!string.Equals(Path.GetDirectoryName(path), root.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar), StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"The file name {Show(fileName)} would leave the directory '{root}'.");
        }

        return path;
    }

    private static string Show(string? name)
    {
        if (name is null)
        {
            return "(null)";
        }

        var builder = new StringBuilder("'");
        foreach (char c in name.Length > MaxLength + 2 ? name[..(MaxLength + 2)] : name)
        {
            builder.Append(c is >= ' ' and < (char)0x7F and not '\\' ? c.ToString() : $"\\u{(int)c:x4}");
        }

        return builder.Append(name.Length > MaxLength + 2 ? $"…' ({name.Length} characters)" : "'").ToString();
    }
}
