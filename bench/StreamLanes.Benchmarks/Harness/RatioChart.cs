using System.Globalization;
using System.Net;
using System.Text;

namespace StreamLanes.Benchmarks.Harness;

/// <summary>
/// <c>ratio-chart</c>: draws the whole engine's time per record as a multiple of the bare <c>Channel&lt;T&gt;</c>
/// hand-off, per key count, from <c>EngineThroughputBenchmarks</c> CSV reports (BenchmarkDotNet's
/// <c>BenchmarkDotNet.Artifacts/results/*EngineThroughputBenchmarks-report.csv</c>), one group of bars per report.
/// </summary>
/// <remarks>
/// Usage: <c>ratio-chart --reports before=a.csv,after=b.csv --target 2.5 --svg docs/engine-vs-channel.svg</c>. The
/// ratio is the engine's median over the channel's median in the same run, as bench/RESULTS.md quotes it.
/// </remarks>
internal static class RatioChart
{
    private const int Width = 760;
    private const int Height = 380;
    private const int Left = 60;
    private const int Right = 170;
    private const int Top = 50;
    private const int Bottom = 50;
    private static readonly string[] Colors = ["#9e9e9e", "#1f77b4", "#2ca02c", "#ff7f0e"];

    public static int Run(ScenarioArguments args)
    {
        string reports = args.String("reports", "");
        string svgPath = args.String("svg", "docs/engine-vs-channel.svg");
        double target = args.Double("target", 2.5);
        var runs = new List<(string Label, SortedDictionary<int, double> Ratios)>();
        foreach (string entry in reports.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] parts = entry.Split('=', 2);
            if (parts.Length != 2)
            {
                throw new ArgumentException($"--reports takes label=path pairs separated by commas, not '{entry}'.");
            }

            runs.Add((parts[0], Ratios(parts[1])));
        }

        if (runs.Count == 0)
        {
            throw new ArgumentException("--reports is required, e.g. --reports before=a.csv,after=b.csv");
        }

        foreach ((string label, SortedDictionary<int, double> ratios) in runs)
        {
            Console.WriteLine($"{label}: {string.Join(", ", ratios.Select(static r => string.Create(CultureInfo.InvariantCulture, $"{r.Key:N0} keys {r.Value:F2}x")))}");
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(svgPath))!);
        File.WriteAllText(svgPath, Render(runs, target));
        Console.WriteLine($"wrote {svgPath}");
        return 0;
    }

    /// <summary>Engine median ÷ channel median per key count, from one report.</summary>
    private static SortedDictionary<int, double> Ratios(string csvPath)
    {
        string[] lines = File.ReadAllLines(csvPath);
        string[] header = lines[0].Split(',');
        int method = Array.IndexOf(header, "Method");
        int keys = Array.IndexOf(header, "Keys");
        int median = Array.IndexOf(header, "Median");
        if (method < 0 || keys < 0 || median < 0)
        {
            throw new InvalidDataException($"{csvPath} has no Method, Keys and Median columns: not an EngineThroughputBenchmarks report.");
        }

        var medians = new Dictionary<(string Method, int Keys), double>();
        foreach (string line in lines.Skip(1).Where(static line => line.Length > 0))
        {
            string[] cells = line.Split(',');
            medians[(cells[method], int.Parse(cells[keys], CultureInfo.InvariantCulture))] = Nanoseconds(cells[median]);
        }

        var ratios = new SortedDictionary<int, double>();
        foreach (((string name, int keyCount), double engine) in medians.Where(static m => m.Key.Method == "Engine"))
        {
            ratios[keyCount] = engine / medians[("ChannelHandOff", keyCount)];
        }

        return ratios;
    }

    // BenchmarkDotNet writes e.g. "1,234.5 ns" or "1.2 μs" with the invariant culture.
    private static double Nanoseconds(string cell)
    {
        string[] parts = cell.Trim('"').Split(' ');
        double value = double.Parse(parts[0], NumberStyles.Number, CultureInfo.InvariantCulture);
        return parts.ElementAtOrDefault(1) switch
        {
            "ns" or null => value,
            "μs" or "us" => value * 1_000,
            "ms" => value * 1_000_000,
            string unit => throw new InvalidDataException($"Unknown time unit '{unit}' in '{cell}'."),
        };
    }

    private static string Render(List<(string Label, SortedDictionary<int, double> Ratios)> runs, double target)
    {
        int[] keyCounts = [.. runs.SelectMany(static r => r.Ratios.Keys).Distinct().Order()];
        double yMax = Math.Ceiling(Math.Max(target, runs.SelectMany(static r => r.Ratios.Values).Max()) + 0.5);
        int plotRight = Width - Right;
        int plotBottom = Height - Bottom;
        double Y(double y) => plotBottom - (y / yMax * (plotBottom - Top));
        double groupWidth = (plotRight - Left) / (double)keyCounts.Length;
        double barWidth = groupWidth * 0.7 / runs.Count;

        var svg = new StringBuilder();
        svg.Append(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">\n"));
        svg.Append(Inv($"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>\n"));
        svg.Append(Inv($"<text x=\"{Width / 2}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">Whole engine ÷ bare Channel&lt;T&gt; hand-off, no-op handler (lower is better)</text>\n"));
        for (int tick = 0; tick <= yMax; tick++)
        {
            svg.Append(Inv($"<line x1=\"{Left}\" x2=\"{plotRight}\" y1=\"{Y(tick):F1}\" y2=\"{Y(tick):F1}\" stroke=\"#e5e5e5\"/>\n"));
            svg.Append(Inv($"<text x=\"{Left - 6}\" y=\"{Y(tick) + 4:F1}\" text-anchor=\"end\">{tick}×</text>\n"));
        }

        svg.Append(Inv($"<line x1=\"{Left}\" x2=\"{plotRight}\" y1=\"{Y(target):F1}\" y2=\"{Y(target):F1}\" stroke=\"#d62728\" stroke-dasharray=\"6 4\"/>\n"));
        svg.Append(Inv($"<text x=\"{plotRight + 6}\" y=\"{Y(target) + 4:F1}\" fill=\"#d62728\">target {target}× (1,000 keys)</text>\n"));
        for (int group = 0; group < keyCounts.Length; group++)
        {
            double groupLeft = Left + (group * groupWidth) + (groupWidth * 0.15);
            for (int run = 0; run < runs.Count; run++)
            {
                if (!runs[run].Ratios.TryGetValue(keyCounts[group], out double ratio))
                {
                    continue;
                }

                double x = groupLeft + (run * barWidth);
                svg.Append(Inv($"<rect x=\"{x:F1}\" y=\"{Y(ratio):F1}\" width=\"{barWidth - 2:F1}\" height=\"{plotBottom - Y(ratio):F1}\" fill=\"{Colors[run % Colors.Length]}\"/>\n"));
                svg.Append(Inv($"<text x=\"{x + ((barWidth - 2) / 2):F1}\" y=\"{Y(ratio) - 5:F1}\" text-anchor=\"middle\">{ratio:F2}×</text>\n"));
            }

            svg.Append(Inv($"<text x=\"{Left + (group * groupWidth) + (groupWidth / 2):F1}\" y=\"{plotBottom + 20}\" text-anchor=\"middle\">{keyCounts[group]:N0} {(keyCounts[group] == 1 ? "key" : "keys")}</text>\n"));
        }

        svg.Append(Inv($"<line x1=\"{Left}\" x2=\"{plotRight}\" y1=\"{plotBottom}\" y2=\"{plotBottom}\" stroke=\"#333\"/>\n"));
        for (int run = 0; run < runs.Count; run++)
        {
            int y = Top + 10 + (run * 20);
            svg.Append(Inv($"<rect x=\"{plotRight + 10}\" y=\"{y - 10}\" width=\"12\" height=\"12\" fill=\"{Colors[run % Colors.Length]}\"/>\n"));
            svg.Append(Inv($"<text x=\"{plotRight + 28}\" y=\"{y}\">{WebUtility.HtmlEncode(runs[run].Label)}</text>\n"));
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
