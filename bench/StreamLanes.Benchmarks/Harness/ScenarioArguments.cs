using System.Globalization;

namespace StreamLanes.Benchmarks.Harness;

/// <summary>The <c>--name value</c> options of the scenario modes.</summary>
internal sealed class ScenarioArguments
{
    private readonly Dictionary<string, string> _values;

    private ScenarioArguments(Dictionary<string, string> values) => _values = values;

    public static ScenarioArguments Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                throw new ArgumentException($"Expected '--name value' pairs; got '{args[i]}'.");
            }

            values[args[i][2..]] = args[++i];
        }

        return new ScenarioArguments(values);
    }

    public int Int(string name, int fallback) => _values.TryGetValue(name, out string? value) ? int.Parse(value, CultureInfo.InvariantCulture) : fallback;

    public double Double(string name, double fallback) => _values.TryGetValue(name, out string? value) ? double.Parse(value, CultureInfo.InvariantCulture) : fallback;

    public string String(string name, string fallback) => _values.GetValueOrDefault(name, fallback);

    public int[] Ints(string name, int[] fallback)
        => _values.TryGetValue(name, out string? value) ? [.. value.Split(',').Select(part => int.Parse(part, CultureInfo.InvariantCulture))] : fallback;
}
