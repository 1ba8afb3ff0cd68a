using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace StreamLanes;

/// <summary>
/// Declares that configuration key <see cref="OldKey"/> of an options type was renamed <see cref="NewKey"/> (a path
/// relative to the type, such as <c>SinkRetry:InitialDelay</c>): the old key keeps binding to the new option, unless
/// the new key is set too, and start-up warns once, naming both.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
internal sealed class RenamedOptionAttribute(string oldKey, string newKey) : Attribute
{
    public string OldKey { get; } = oldKey;

    public string NewKey { get; } = newKey;
}

/// <summary>Binds renamed configuration keys (see <see cref="RenamedOptionAttribute"/>) and finds them for the start-up warning.</summary>
internal static class RenamedOptionKeys
{
    /// <summary>
    /// Sets each renamed option of <paramref name="options"/> (and of its nested StreamLanes options objects) whose old
    /// key is set under <paramref name="section"/> and whose new key is not. Run after the binder, which ignores old keys.
    /// </summary>
    public static void Bind(IConfigurationSection? section, object? options)
    {
        if (section is null || options is null || !section.GetChildren().Any())
        {
            return;
        }

        Type type = options.GetType();
        foreach (RenamedOptionAttribute rename in type.GetCustomAttributes<RenamedOptionAttribute>())
        {
            if (section[rename.OldKey] is string value && section[rename.NewKey] is null)
            {
                Set(options, rename.NewKey, value, section.GetSection(rename.OldKey).Path);
            }
        }

        foreach (PropertyInfo property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length == 0 && IsOptionsObject(property.PropertyType))
            {
                Bind(section.GetSection(property.Name), property.GetValue(options));
            }
        }
    }

    /// <summary>The new key's full path when <paramref name="key"/> is a renamed key of <paramref name="type"/>, else null.</summary>
    public static string? NewPathOf(Type type, IConfigurationSection parent, string key)
    {
        foreach (RenamedOptionAttribute rename in type.GetCustomAttributes<RenamedOptionAttribute>())
        {
            if (string.Equals(rename.OldKey, key, StringComparison.OrdinalIgnoreCase))
            {
                return ConfigurationPath.Combine(parent.Path, rename.NewKey);
            }
        }

        return null;
    }

    /// <summary>A nested options class whose own keys are bound and checked (not a value, a collection or an abstract type).</summary>
    internal static bool IsOptionsObject(Type type)
        => type.IsClass && !type.IsAbstract && type != typeof(string) && type != typeof(Uri) && type != typeof(Type)
            && !typeof(System.Collections.IEnumerable).IsAssignableFrom(type) && !typeof(Delegate).IsAssignableFrom(type)
            && type.Namespace?.StartsWith("StreamLanes", StringComparison.Ordinal) == true;

    private static void Set(object options, string path, string value, string oldPath)
    {
        string[] parts = path.Split(ConfigurationPath.KeyDelimiter);
        object target = options;
        for (int i = 0; i < parts.Length - 1; i++)
        {
            PropertyInfo holder = Property(target.GetType(), parts[i]);
            target = holder.GetValue(target) ?? throw new InvalidOperationException($"{oldPath}: option {parts[i]} is not set.");
        }

        PropertyInfo property = Property(target.GetType(), parts[^1]);
        Type valueType = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        object? converted;
        try
        {
            converted = TypeDescriptor.GetConverter(valueType).ConvertFromInvariantString(value);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or NotSupportedException || ex.InnerException is FormatException)
        {
            // As the binder words it, naming the key; never the value, which may be a secret.
            throw new InvalidOperationException($"Failed to convert configuration value at '{oldPath}' to type '{valueType.FullName}'.", ex);
        }

        property.SetValue(target, converted);
    }

    private static PropertyInfo Property(Type type, string name)
        => type.GetProperty(name, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase)
            ?? throw new InvalidOperationException($"{type.Name} has no option {name}.");
}

internal static partial class Log
{
    [LoggerMessage(39, LogLevel.Warning, "Configuration key {OldPath} was renamed {NewPath}; the old key still works, but move to the new one.")]
    public static partial void RenamedConfigurationKey(ILogger logger, string oldPath, string newPath);
}
