using System.Globalization;
using System.Net;
using System.Text;

namespace StreamLanes.Benchmarks.Harness;

/// <summary>A line chart as hand-written SVG text: stacked panels, each with a few series and a shaded interval.</summary>
internal static class SvgChart
{
    private const int Width = 960;
    private const int PanelHeight = 300;
    private const int Left = 70;
    private const int Right = 220;
    private const int Top = 50;
    private const int Bottom = 45;

    public sealed record Series(string Name, string Color, IReadOnlyList<(double X, double Y)> Points);

    public sealed record Panel(string Title, IReadOnlyList<Series> Series, (double From, double To)? Shaded, string ShadedLabel);

    public static string Render(string title, string xLabel, string yLabel, IReadOnlyList<Panel> panels)
    {
        int height = (PanelHeight * panels.Count) + 30;
        double xMax = NiceCeiling(panels.SelectMany(static p => p.Series).SelectMany(static s => s.Points).Select(static p => p.X).DefaultIfEmpty(1).Max());
        var svg = new StringBuilder();
        svg.Append(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{height}\" viewBox=\"0 0 {Width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n"));
        svg.Append(Inv($"<rect width=\"{Width}\" height=\"{height}\" fill=\"white\"/>\n"));
        svg.Append(Inv($"<text x=\"{Width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">{Escape(title)}</text>\n"));
        for (int i = 0; i < panels.Count; i++)
        {
            RenderPanel(svg, panels[i], 30 + (i * PanelHeight), xMax, xLabel, yLabel);
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static void RenderPanel(StringBuilder svg, Panel panel, int offsetY, double xMax, string xLabel, string yLabel)
    {
        double yMax = NiceCeiling(panel.Series.SelectMany(static s => s.Points).Select(static p => p.Y).DefaultIfEmpty(1).Max() * 1.05);
        int plotTop = offsetY + Top - 20;
        int plotBottom = offsetY + PanelHeight - Bottom;
        int plotLeft = Left;
        int plotRight = Width - Right;
        double X(double x) => plotLeft + (x / xMax * (plotRight - plotLeft));
        double Y(double y) => plotBottom - (y / yMax * (plotBottom - plotTop));

        svg.Append(Inv($"<text x=\"{plotLeft}\" y=\"{plotTop - 8}\" font-size=\"13\" font-weight=\"bold\">{Escape(panel.Title)}</text>\n"));
        if (panel.Shaded is (double from, double to))
        {
            svg.Append(Inv($"<rect x=\"{X(from):F1}\" y=\"{plotTop}\" width=\"{X(to) - X(from):F1}\" height=\"{plotBottom - plotTop}\" fill=\"#d62728\" fill-opacity=\"0.08\"/>\n"));
            svg.Append(Inv($"<text x=\"{X(from) + 4:F1}\" y=\"{plotTop + 14}\" fill=\"#d62728\">{Escape(panel.ShadedLabel)}</text>\n"));
        }

        for (int tick = 0; tick <= 5; tick++)
        {
            double value = yMax * tick / 5;
            svg.Append(Inv($"<line x1=\"{plotLeft}\" x2=\"{plotRight}\" y1=\"{Y(value):F1}\" y2=\"{Y(value):F1}\" stroke=\"#e5e5e5\"/>\n"));
            svg.Append(Inv($"<text x=\"{plotLeft - 6}\" y=\"{Y(value) + 4:F1}\" text-anchor=\"end\">{value:N0}</text>\n"));
        }

        double xStep = xMax <= 20 ? 2 : xMax <= 50 ? 5 : 10;
        for (double x = 0; x <= xMax + 1e-9; x += xStep)
        {
            svg.Append(Inv($"<line x1=\"{X(x):F1}\" x2=\"{X(x):F1}\" y1=\"{plotBottom}\" y2=\"{plotBottom + 4}\" stroke=\"black\"/>\n"));
            svg.Append(Inv($"<text x=\"{X(x):F1}\" y=\"{plotBottom + 17}\" text-anchor=\"middle\">{x:0}</text>\n"));
        }

        svg.Append(Inv($"<line x1=\"{plotLeft}\" x2=\"{plotRight}\" y1=\"{plotBottom}\" y2=\"{plotBottom}\" stroke=\"black\"/>\n"));
        svg.Append(Inv($"<line x1=\"{plotLeft}\" x2=\"{plotLeft}\" y1=\"{plotTop}\" y2=\"{plotBottom}\" stroke=\"black\"/>\n"));
        svg.Append(Inv($"<text x=\"{(plotLeft + plotRight) / 2}\" y=\"{plotBottom + 35}\" text-anchor=\"middle\">{Escape(xLabel)}</text>\n"));
        svg.Append(Inv($"<text transform=\"translate({plotLeft - 52},{(plotTop + plotBottom) / 2}) rotate(-90)\" text-anchor=\"middle\">{Escape(yLabel)}</text>\n"));

        for (int i = 0; i < panel.Series.Count; i++)
        {
            Series series = panel.Series[i];
            string points = string.Join(' ', series.Points.Select(p => Inv($"{X(p.X):F1},{Y(p.Y):F1}")));
            svg.Append(Inv($"<polyline fill=\"none\" stroke=\"{series.Color}\" stroke-width=\"1.8\" points=\"{points}\"/>\n"));
            int legendY = plotTop + 10 + (i * 20);
            svg.Append(Inv($"<line x1=\"{plotRight + 15}\" x2=\"{plotRight + 40}\" y1=\"{legendY}\" y2=\"{legendY}\" stroke=\"{series.Color}\" stroke-width=\"3\"/>\n"));
            svg.Append(Inv($"<text x=\"{plotRight + 46}\" y=\"{legendY + 4}\">{Escape(series.Name)}</text>\n"));
        }
    }

    private static double NiceCeiling(double value)
    {
        if (value <= 0)
        {
            return 1;
        }

        double magnitude = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (double step in new[] { 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10 })
        {
            if (value <= step * magnitude)
            {
                return step * magnitude;
            }
        }

        return 10 * magnitude;
    }

    private static string Escape(string text) => WebUtility.HtmlEncode(text);

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
