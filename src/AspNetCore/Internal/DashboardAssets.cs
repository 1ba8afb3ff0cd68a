using Microsoft.AspNetCore.Http;

namespace StreamLanes.AspNetCore;

/// <summary>The page's script and style, embedded in the assembly: nothing is loaded from outside the host.</summary>
internal static class DashboardAssets
{
    private static readonly string ScriptText = Load("dashboard.js");
    private static readonly string StyleText = Load("dashboard.css");

    public static IResult Script => Results.Text(ScriptText, "text/javascript; charset=utf-8");

    public static IResult Style => Results.Text(StyleText, "text/css; charset=utf-8");

    /// <summary>
    /// Headers for the page: scripts and styles only from the host (no inline script, so a stream-supplied string that
    /// slipped through unescaped still could not run), no framing (the action buttons cannot be clickjacked), no caching.
    /// </summary>
    public static void SecureHeaders(HttpResponse response)
    {
        response.Headers.ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
        response.Headers.XFrameOptions = "DENY";
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers.CacheControl = "no-store";
        response.Headers["Referrer-Policy"] = "no-referrer";
    }

    private static string Load(string name)
    {
        using Stream stream = typeof(DashboardAssets).Assembly.GetManifestResourceStream($"StreamLanes.AspNetCore.{name}")
            ?? throw new InvalidOperationException($"The dashboard asset '{name}' is missing from the assembly.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
