using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>
/// Finds keys under a consumer's configuration section that bind to nothing (a misspelt <c>MaxAtempts</c> is silently
/// ignored by the binder) and warns about each once at start-up, with the likely intended option. Values are never
/// read: they may be secrets.
/// </summary>
internal static class UnknownConfigurationKeys
{
    /// <summary>Logs one warning per unknown key under <c>StreamConsumers:&lt;name&gt;</c>.</summary>
    public static void Warn(IConfiguration? configuration, ConsumerRegistration registration, ILogger logger)
    {
        if (configuration is null)
        {
            return;
        }

        IConfigurationSection root = configuration.GetSection($"{StreamConsumerOptions.ConfigurationSection}:{registration.Name}");
        var renamed = new List<(string, string)>();
        foreach ((string path, string? suggestion) in Find(root, typeof(StreamConsumerOptions), registration.BoundSections, renamed))
        {
            Log.UnknownConfigurationKey(logger, SafeText.Escape(path, 512), suggestion is null ? string.Empty : $" Did you mean {SafeText.Escape(suggestion, 512)}?");
        }

        foreach ((string oldPath, string newPath) in renamed)
        {
            Log.RenamedConfigurationKey(logger, SafeText.Escape(oldPath, 512), SafeText.Escape(newPath, 512));
        }
    }

    /// <summary>Every key under <paramref name="section"/> that no property of <paramref name="type"/> (or a bound sub-section) takes, with the closest known key's full path.</summary>
    /// <remarks>Renamed keys (<see cref="RenamedOptionAttribute"/>) are not unknown: they go to <paramref name="renamed"/> with their new key's path.</remarks>
    internal static List<(string Path, string? Suggestion)> Find(IConfigurationSection section, Type type, IReadOnlyDictionary<string, Type>? sections, List<(string Old, string New)>? renamed = null)
    {
        var unknown = new List<(string, string?)>();
        Visit(section, type, sections, unknown, renamed ?? []);
        return unknown;
    }

    private static void Visit(IConfigurationSection section, Type type, IReadOnlyDictionary<string, Type>? sections, List<(string, string?)> unknown, List<(string, string)> renamed)
    {
        Dictionary<string, PropertyInfo> properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(static p => p.GetIndexParameters().Length == 0 && p.GetMethod is not null)
            .ToDictionary(static p => p.Name, StringComparer.OrdinalIgnoreCase);
        foreach (IConfigurationSection child in section.GetChildren())
        {
            if (sections is not null && sections.TryGetValue(child.Key, out Type? sectionType))
            {
                Visit(child, sectionType, null, unknown, renamed);
            }
            else if (properties.TryGetValue(child.Key, out PropertyInfo? property))
            {
                if (RenamedOptionKeys.IsOptionsObject(property.PropertyType))
                {
                    Visit(child, property.PropertyType, null, unknown, renamed);
                }
            }
            else if (RenamedOptionKeys.NewPathOf(type, section, child.Key) is string newPath)
            {
                renamed.Add((child.Path, newPath));
            }
            else
            {
                string? closest = Closest(child.Key, properties.Keys.Concat(sections?.Keys ?? []));
                unknown.Add((child.Path, closest is null ? null : ConfigurationPath.Combine(section.Path, closest)));
            }
        }
    }

    /// <summary>The known key within a typo or two of <paramref name="key"/> (a quarter of its length, at least one edit).</summary>
    private static string? Closest(string key, IEnumerable<string> known)
    {
        int allowed = Math.Max(1, key.Length / 4);
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string candidate in known)
        {
            int distance = Distance(key.ToUpperInvariant(), candidate.ToUpperInvariant());
            if (distance <= allowed && distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }

        return best;
    }

    /// <summary>Edit distance counting an adjacent transposition as one edit (optimal string alignment).</summary>
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (int j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}
