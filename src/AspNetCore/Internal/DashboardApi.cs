using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StreamLanes.Sinks;

namespace StreamLanes.AspNetCore;

/// <summary>The dashboard's endpoints: the page, the state it refreshes, the dead-letter pages and the actions.</summary>
internal sealed class DashboardApi(DashboardHost host, ILogger logger)
{
    private const int MaxItemsInResult = 100;

    public async Task<IResult> PageAsync(HttpContext http)
    {
        AntiforgeryTokenSet tokens = http.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(http);
        DashboardState state = await BuildStateAsync(http.RequestServices, http.RequestAborted).ConfigureAwait(false);
        string basePath = $"{http.Request.PathBase}{BasePathOf(http)}";
        DashboardAssets.SecureHeaders(http.Response);
        return Results.Content(DashboardPage.Render(state, basePath, tokens), "text/html; charset=utf-8");
    }

    public async Task<IResult> StateAsync(HttpContext http)
    {
        http.Response.Headers.CacheControl = "no-store";
        return Results.Json(await BuildStateAsync(http.RequestServices, http.RequestAborted).ConfigureAwait(false), DashboardJson.Options);
    }

    public async Task<IResult> DeadLettersAsync(HttpContext http, string name, string? key, string? reason, string? exception, string? from, string? to, string? cursor, int? limit)
    {
        http.Response.Headers.CacheControl = "no-store";
        if (host.Find(name) is not { } consumer)
        {
            return Results.NotFound();
        }

        if (!TryFilter(new SelectionRequest { Key = key, Reason = reason, Exception = exception, From = from, To = to }, out DeadLetterFilter filter, out string? problem))
        {
            return Results.BadRequest(new { error = problem });
        }

        int size = Math.Clamp(limit ?? host.Options.PageSize, 1, 500);
        DeadLetterIndex.Snapshot snapshot = await host.IndexOf(consumer).GetAsync(http.RequestAborted).ConfigureAwait(false);
        (IReadOnlyList<DeadLetterSummary> page, string? next, int total) = snapshot.Page(filter, cursor, size);
        return Results.Json(new DeadLetterPage(total, next, snapshot.BuiltAt, page), DashboardJson.Options);
    }

    public async Task<IResult> DeadLetterAsync(HttpContext http, string name, string id)
    {
        http.Response.Headers.CacheControl = "no-store";
        if (host.Find(name) is not { } consumer)
        {
            return Results.NotFound();
        }

        DeadLetterIndex.Snapshot snapshot = await host.IndexOf(consumer).GetAsync(http.RequestAborted).ConfigureAwait(false);
        DeadLetterSummary? summary = Array.Find(snapshot.Entries, e => string.Equals(e.Id, id, StringComparison.Ordinal));
        if (summary is null)
        {
            return Results.NotFound(new { error = "No such dead letter (it may have been replayed or purged)." });
        }

        IDeadLetterStore store = consumer.GetDeadLetterStore();
        var read = new List<StoredDeadLetter>();
        DeadLetterEnvelope? found = null;
        try
        {
            await foreach (StoredDeadLetter letter in store.ReadAsync(new DeadLetterFilter { Consumer = consumer.Name, PartitionKey = summary.PartitionKey }, http.RequestAborted).ConfigureAwait(false))
            {
                read.Add(letter);
                if (string.Equals(letter.Envelope.Id, id, StringComparison.Ordinal))
                {
                    found = letter.Envelope;
                }
            }
        }
        finally
        {
            await store.ReleaseAsync(read, CancellationToken.None).ConfigureAwait(false);
        }

        return found is null
            ? Results.NotFound(new { error = "No such dead letter (it may have been replayed or purged)." })
            : Results.Json(DeadLetterDetail.From(found, host.Options.ShowPayloads), DashboardJson.Options);
    }

    public async Task<IResult> ReplayAsync(HttpContext http, string name, SelectionRequest request)
    {
        if (await RefuseForgeryAsync(http).ConfigureAwait(false) is { } refused)
        {
            return refused;
        }

        if (host.Find(name) is not { } consumer)
        {
            return Results.NotFound();
        }

        if (!TryFilter(request, out DeadLetterFilter filter, out string? problem))
        {
            return Results.BadRequest(new { error = problem });
        }

        DeadLetterRedriveReport report = await consumer.ReplayDeadLettersAsync(
            new DeadLetterRedriveOptions { Filter = filter with { Consumer = consumer.Name }, DryRun = request.DryRun },
            http.RequestAborted).ConfigureAwait(false);
        return Finish(consumer, report);
    }

    public async Task<IResult> PurgeAsync(HttpContext http, string name, SelectionRequest request)
    {
        if (await RefuseForgeryAsync(http).ConfigureAwait(false) is { } refused)
        {
            return refused;
        }

        if (host.Find(name) is not { } consumer)
        {
            return Results.NotFound();
        }

        if (!TryFilter(request, out DeadLetterFilter filter, out string? problem))
        {
            return Results.BadRequest(new { error = problem });
        }

        if (filter == DeadLetterFilter.All && !request.All)
        {
            return Results.BadRequest(new { error = "A purge without a filter deletes every dead letter of the consumer: send \"all\": true to mean it." });
        }

        var redriver = new DeadLetterRedriver(consumer.GetDeadLetterStore(), host.Time);
        DeadLetterRedriveReport report = await redriver.PurgeAsync(
            new DeadLetterRedriveOptions { Filter = filter with { Consumer = consumer.Name }, DryRun = request.DryRun },
            http.RequestAborted).ConfigureAwait(false);
        return Finish(consumer, report);
    }

    public async Task<IResult> ReleaseAsync(HttpContext http, string name, ReleaseRequest request)
    {
        if (await RefuseForgeryAsync(http).ConfigureAwait(false) is { } refused)
        {
            return refused;
        }

        if (host.Find(name) is not { } consumer)
        {
            return Results.NotFound();
        }

        if (string.IsNullOrEmpty(request.Key))
        {
            return Results.BadRequest(new { error = "key is required." });
        }

        bool parked = consumer.ParkedKeys.TryGetValue(request.Key, out string? parkedBy);
        DeadLetterIndex.Snapshot snapshot = await host.IndexOf(consumer).GetAsync(http.RequestAborted).ConfigureAwait(false);
        int deadLetters = snapshot.Page(new DeadLetterFilter { PartitionKey = request.Key }, null, 1).Total;
        bool released = !request.DryRun && consumer.ReleaseKey(request.Key);
        if (released)
        {
            DashboardLog.KeyReleased(logger, consumer.Name);
        }

        return Results.Json(new ReleaseResult(request.DryRun, parked, parkedBy, deadLetters, released), DashboardJson.Options);
    }

    private IResult Finish(IStreamConsumer consumer, DeadLetterRedriveReport report)
    {
        if (!report.DryRun)
        {
            host.IndexOf(consumer).Invalidate();
        }

        DashboardLog.Redriven(logger, report.Operation, consumer.Name, report.Items.Count, report.DryRun);
        return Results.Json(ActionResult.From(report, MaxItemsInResult), DashboardJson.Options);
    }

    private static async Task<IResult?> RefuseForgeryAsync(HttpContext http)
    {
        try
        {
            await http.RequestServices.GetRequiredService<IAntiforgery>().ValidateRequestAsync(http).ConfigureAwait(false);
            return null;
        }
        catch (AntiforgeryValidationException)
        {
            return Results.BadRequest(new { error = "The antiforgery token is missing or invalid: reload the dashboard." });
        }
    }

    private async Task<DashboardState> BuildStateAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        HealthCheckService? health = services.GetService<HealthCheckService>();
        var consumers = new List<ConsumerView>();
        foreach (IStreamConsumer consumer in host.Consumers)
        {
            StreamConsumerDetails details = consumer.Inspect();
            HealthReportEntry? entry = null;
            if (health is not null)
            {
                string check = $"streamlanes-{consumer.Name}";
                HealthReport report = await health.CheckHealthAsync(r => r.Name == check, cancellationToken).ConfigureAwait(false);
                entry = report.Entries.TryGetValue(check, out HealthReportEntry found) ? found : null;
            }

            consumers.Add(ConsumerView.From(details, entry, host, consumer));
        }

        return new DashboardState(host.Time.GetUtcNow(), host.Options.ShowPayloads, (int)host.Options.RefreshInterval.TotalMilliseconds, consumers);
    }

    private static string BasePathOf(HttpContext http)
    {
        // The group's prefix is the matched route's path minus the page's own (empty or "/").
        string path = http.Request.Path.Value ?? "";
        return path.EndsWith('/') ? path[..^1] : path;
    }

    private static bool TryFilter(SelectionRequest request, out DeadLetterFilter filter, out string? problem)
    {
        filter = DeadLetterFilter.All;
        problem = null;
        DeadLetterReason? reason = null;
        if (!string.IsNullOrEmpty(request.Reason))
        {
            if (!Enum.TryParse(request.Reason, ignoreCase: false, out DeadLetterReason parsed) || !Enum.IsDefined(parsed))
            {
                problem = $"reason must be one of {string.Join(", ", Enum.GetNames<DeadLetterReason>())}.";
                return false;
            }

            reason = parsed;
        }

        if (!TryTime(request.From, "from", out DateTimeOffset? from, ref problem) || !TryTime(request.To, "to", out DateTimeOffset? to, ref problem))
        {
            return false;
        }

        if (from is not null && to is not null && from >= to)
        {
            problem = "from must be before to.";
            return false;
        }

        filter = new DeadLetterFilter
        {
            PartitionKey = string.IsNullOrEmpty(request.Key) ? null : request.Key,
            Reason = reason,
            ExceptionType = string.IsNullOrWhiteSpace(request.Exception) ? null : request.Exception.Trim(),
            From = from,
            To = to,
        };
        return true;
    }

    private static bool TryTime(string? value, string name, out DateTimeOffset? time, ref string? problem)
    {
        time = null;
        if (string.IsNullOrWhiteSpace(value))
        {
            return true;
        }

        // The page's datetime-local inputs have no offset: they are read as UTC, which the page says.
        if (DateTimeOffset.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out DateTimeOffset parsed))
        {
            time = parsed;
            return true;
        }

        problem = $"{name} must be a date and time (ISO 8601, UTC unless an offset is given).";
        return false;
    }
}
