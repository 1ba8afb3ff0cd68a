using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace StreamLanes.AspNetCore;

/// <summary>Maps the StreamLanes dashboard into an ASP.NET Core app.</summary>
public static class StreamLanesDashboardEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps the operator's dashboard (an HTML page, its script and style, and the JSON API behind it) under
    /// <paramref name="prefix"/>. Nothing is served unless the host calls this method, and the endpoints answer only
    /// when the host names who may use them: chain <c>.RequireAuthorization("ops")</c> (a policy of yours) on the
    /// returned builder; without any authorization metadata every endpoint answers 403 (chain <c>.AllowAnonymous()</c>
    /// to open it deliberately, e.g. on a developer machine). State-changing actions are POSTs that require an
    /// ASP.NET Core antiforgery token (<c>builder.Services.AddAntiforgery()</c> must have been called).
    /// </summary>
    /// <param name="endpoints">The app.</param>
    /// <param name="prefix">The path the dashboard is served at. Default: <c>/streamlanes</c>.</param>
    /// <param name="configure">Sets options (e.g. <see cref="StreamLanesDashboardOptions.ShowPayloads"/>); validated here.</param>
    /// <returns>The endpoints' group, to add authorization and other conventions to.</returns>
    /// <exception cref="ArgumentException">An option or the prefix is invalid.</exception>
    /// <exception cref="InvalidOperationException">Antiforgery services are not registered.</exception>
    public static RouteGroupBuilder MapStreamLanesDashboard(this IEndpointRouteBuilder endpoints, string prefix = "/streamlanes", Action<StreamLanesDashboardOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrWhiteSpace(prefix);
        if (!prefix.StartsWith('/') || prefix.Length > 1 && prefix.EndsWith('/'))
        {
            throw new ArgumentException($"The dashboard prefix must start with '/' and not end with one; it was '{prefix}'.", nameof(prefix));
        }

        var options = new StreamLanesDashboardOptions();
        configure?.Invoke(options);
        options.Validate();
        IServiceProvider services = endpoints.ServiceProvider;
        if (services.GetService<IAntiforgery>() is null)
        {
            throw new InvalidOperationException("The StreamLanes dashboard protects its actions with antiforgery tokens: call builder.Services.AddAntiforgery() before building the app.");
        }

        var host = new DashboardHost(services, options, services.GetService<TimeProvider>() ?? TimeProvider.System);
        services.GetService<IHostApplicationLifetime>()?.ApplicationStopping.Register(host.Dispose);
        ILogger logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("StreamLanes.Dashboard");
        var api = new DashboardApi(host, logger);

        RouteGroupBuilder group = endpoints.MapGroup(prefix);
        group.AddEndpointFilter(RequireAuthorizationMetadata);
        group.MapGet("", (Func<HttpContext, Task<IResult>>)api.PageAsync).ExcludeFromDescription();
        group.MapGet("/assets/dashboard.js", () => DashboardAssets.Script).ExcludeFromDescription();
        group.MapGet("/assets/dashboard.css", () => DashboardAssets.Style).ExcludeFromDescription();
        group.MapGet("/api/state", (Func<HttpContext, Task<IResult>>)api.StateAsync);
        group.MapGet("/api/consumers/{name}/dead-letters", api.DeadLettersAsync);
        group.MapGet("/api/consumers/{name}/dead-letter", api.DeadLetterAsync);
        group.MapPost("/api/consumers/{name}/replay", api.ReplayAsync);
        group.MapPost("/api/consumers/{name}/purge", api.PurgeAsync);
        group.MapPost("/api/consumers/{name}/release", api.ReleaseAsync);
        return group;
    }

    // Fails closed: a host that mapped the dashboard but forgot RequireAuthorization gets 403s, not an open console.
    private static ValueTask<object?> RequireAuthorizationMetadata(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        Endpoint? endpoint = context.HttpContext.GetEndpoint();
        if (endpoint?.Metadata.GetMetadata<IAuthorizeData>() is null && endpoint?.Metadata.GetMetadata<IAllowAnonymous>() is null)
        {
            return ValueTask.FromResult<object?>(Results.Problem(
                "The StreamLanes dashboard has no authorization policy: chain .RequireAuthorization(\"<policy>\") on MapStreamLanesDashboard (or .AllowAnonymous() deliberately).",
                statusCode: StatusCodes.Status403Forbidden));
        }

        return next(context);
    }
}
