using System.CommandLine;
using System.Globalization;
using System.Text;

namespace StreamLanes.Cli;

/// <summary>Checks the operator's input before any store or client is built, so a typo is a usage error, not a crash.</summary>
internal static class CliInput
{
    /// <summary>The first problem with the store file, region or URLs, or <see langword="null"/>.</summary>
    public static string? Problem(ParseResult parse, string? file, Option<string?> region, Option<string?>[] urls)
    {
        if (file is not null)
        {
            string full;
            try
            {
                full = Path.GetFullPath(file);
            }
            catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
            {
                return $"--file {Show(file)} is not a valid path: {ex.Message}";
            }

            if (Directory.Exists(full))
            {
                return $"--file {Show(file)} is a directory ('{full}'), not a dead-letter file.";
            }

            if (!File.Exists(full))
            {
                // From cron, "0 dead letters" for a mistyped path would look like an empty queue.
                return $"--file {Show(file)} does not exist ('{full}').";
            }
        }

        if (parse.GetValue(region) is { } name && !IsRegion(name))
        {
            return $"{region.Name} must be an AWS region name such as us-east-1 (lowercase letters, digits and '-'); got {Show(name)}.";
        }

        foreach (Option<string?> option in urls)
        {
            if (parse.GetValue(option) is { } url
                && !(Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) && uri.Scheme is "http" or "https" && uri.Host.Length > 0))
            {
                return $"{option.Name} must be an absolute http:// or https:// URL; got {Show(url)}.";
            }
        }

        return null;
    }

    private static bool IsRegion(string name)
        => name.Length is >= 1 and <= 64
            && name.All(static c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')
            && name[0] != '-' && name[^1] != '-';

    /// <summary>The operator's value quoted, control characters escaped and length capped.</summary>
    private static string Show(string value)
    {
        var text = new StringBuilder("'");
        foreach (char c in value.Length > 200 ? value[..200] : value)
        {
            text.Append(char.IsControl(c) || char.IsSurrogate(c) ? string.Create(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}") : c.ToString());
        }

        return text.Append(value.Length > 200 ? "…'" : "'").ToString();
    }
}
