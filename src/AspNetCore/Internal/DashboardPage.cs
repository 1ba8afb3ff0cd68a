using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Antiforgery;

namespace StreamLanes.AspNetCore;

/// <summary>
/// Renders the page on the server: the consumers table is in the HTML itself (readable without script), the script
/// then refreshes it and fills in the rest. Every stream-supplied string goes through the HTML encoder.
/// </summary>
internal static class DashboardPage
{
    private static readonly HtmlEncoder Html = HtmlEncoder.Default;

    public static string Render(DashboardState state, string basePath, AntiforgeryTokenSet tokens)
    {
        var html = new StringBuilder(8 * 1024);
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
            .Append("<title>StreamLanes</title>")
            .Append("<meta name=\"sl-base\" content=\"").Append(Html.Encode(basePath)).Append("\">")
            .Append("<meta name=\"sl-csrf-header\" content=\"").Append(Html.Encode(tokens.HeaderName ?? "RequestVerificationToken")).Append("\">")
            .Append("<meta name=\"sl-csrf\" content=\"").Append(Html.Encode(tokens.RequestToken ?? "")).Append("\">")
            .Append("<meta name=\"sl-refresh\" content=\"").Append(state.RefreshMilliseconds.ToString(CultureInfo.InvariantCulture)).Append("\">")
            .Append("<link rel=\"stylesheet\" href=\"").Append(Html.Encode(basePath)).Append("/assets/dashboard.css\">")
            .Append("<script src=\"").Append(Html.Encode(basePath)).Append("/assets/dashboard.js\" defer></script>")
            .Append("</head><body>\n<header><h1>StreamLanes</h1><span id=\"updated\">updated ")
            .Append(Html.Encode(state.GeneratedAt.ToString("u", CultureInfo.InvariantCulture)))
            .Append("</span><span id=\"conn\"></span></header>\n<main>\n<section><h2>Consumers</h2>")
            .Append("<table id=\"consumers\"><thead><tr><th>consumer</th><th>source</th><th>stream / queue</th><th>state</th><th>health</th>")
            .Append("<th class=\"n\">records/s</th><th class=\"n\">retries</th><th class=\"n\">dead letters</th><th class=\"n\">checkpoint lag</th><th class=\"n\">ms behind latest</th></tr></thead><tbody>");
        foreach (ConsumerView consumer in state.Consumers)
        {
            html.Append("<tr data-consumer=\"").Append(Html.Encode(consumer.Name)).Append("\">");
            Cell(html, consumer.Name);
            Cell(html, consumer.SourceKind);
            Cell(html, consumer.Stream);
            Cell(html, consumer.State);
            Cell(html, consumer.Health, "health-" + consumer.Health.ToLowerInvariant());
            Cell(html, consumer.RecordsPerSecond.ToString("N1", CultureInfo.InvariantCulture), "n");
            Cell(html, consumer.Retries.ToString("N0", CultureInfo.InvariantCulture), "n");
            Cell(html, consumer.DeadLetters.ToString("N0", CultureInfo.InvariantCulture), "n");
            Cell(html, consumer.CheckpointLag.ToString("N0", CultureInfo.InvariantCulture), "n");
            Cell(html, consumer.MillisBehindLatest?.ToString("N0", CultureInfo.InvariantCulture) ?? "–", "n");
            html.Append("</tr>");
        }

        if (state.Consumers.Count == 0)
        {
            html.Append("<tr><td colspan=\"10\">No consumer is registered in this host.</td></tr>");
        }

        html.Append("</tbody></table></section>\n<div id=\"consumer\"></div>\n")
            .Append("<noscript><p>The tables above are a snapshot; the live view, dead letters and actions need JavaScript (served by this host).</p></noscript>")
            .Append("</main>\n<div id=\"confirm\" class=\"modal\" hidden><div class=\"box\"><h3 id=\"confirm-title\"></h3><div id=\"confirm-body\"></div>")
            .Append("<div class=\"buttons\"><button id=\"confirm-ok\" type=\"button\">Confirm</button><button id=\"confirm-cancel\" type=\"button\">Cancel</button></div></div></div>\n")
            .Append("</body></html>\n");
        return html.ToString();
    }

    private static void Cell(StringBuilder html, string value, string? cssClass = null)
    {
        html.Append(cssClass is null ? "<td>" : $"<td class=\"{cssClass}\">").Append(Html.Encode(value)).Append("</td>");
    }
}
