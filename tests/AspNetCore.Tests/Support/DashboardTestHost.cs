using System.Collections.Concurrent;
using System.Net;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StreamLanes.Sinks;

namespace StreamLanes.AspNetCore.Tests;

/// <summary>Which keys the test handlers fail, switched by the tests (the "fix").</summary>
public sealed class PoisonKeys
{
    private readonly ConcurrentDictionary<string, bool> _keys = new(StringComparer.Ordinal);

    public void Fail(string key) => _keys[key] = true;

    public void Fix(string key) => _keys.TryRemove(key, out _);

    public bool Fails(string key) => _keys.ContainsKey(key);

    public ConcurrentQueue<string> Handled { get; } = new();
}

public sealed class FailingHandler(PoisonKeys poison) : IStreamHandler<StreamRecord>
{
    public ValueTask HandleAsync(StreamRecord message, HandlerContext context)
    {
        if (poison.Fails(message.PartitionKey))
        {
            throw new InvalidOperationException($"Downstream rejected the record of key {message.PartitionKey}.");
        }

        poison.Handled.Enqueue($"{message.PartitionKey}:{message.SequenceNumber}");
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// A real ASP.NET Core host on Kestrel (127.0.0.1, a free port) with two real consumers on in-memory streams, the
/// dashboard mapped with <c>RequireAuthorization("ops")</c>, and a test authentication scheme: a request is signed in
/// by the header <c>X-Test-User: name[;role]</c> or the cookie <c>test-user</c> (set by <c>/test-login?user=..&amp;role=..</c>).
/// </summary>
public sealed class DashboardTestHost : IAsyncDisposable
{
    public const string ParkingConsumer = "orders";
    public const string RetryingConsumer = "payments";

    private DashboardTestHost(WebApplication app, string baseUrl, InMemoryStream orders, InMemoryStream payments, InMemoryDeadLetterSink ordersSink, PoisonKeys poison)
    {
        App = app;
        BaseUrl = baseUrl;
        Orders = orders;
        Payments = payments;
        OrdersSink = ordersSink;
        Poison = poison;
    }

    public WebApplication App { get; }

    public string BaseUrl { get; }

    public InMemoryStream Orders { get; }

    public InMemoryStream Payments { get; }

    public InMemoryDeadLetterSink OrdersSink { get; }

    public PoisonKeys Poison { get; }

    public IStreamConsumer Consumer(string name) => App.Services.GetRequiredKeyedService<IStreamConsumer>(name);

    public static async Task<DashboardTestHost> StartAsync(
        Action<StreamLanesDashboardOptions>? configure = null,
        bool requireAuthorization = true,
        string ordersStreamName = "orders-stream",
        InMemoryDeadLetterSink? ordersSink = null,
        ILoggerProvider? logs = null,
        string? jsonLinesPath = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
            builder.Logging.SetMinimumLevel(LogLevel.Trace);
        }

        builder.Services.AddAntiforgery();
        builder.Services.AddAuthentication(TestAuthentication.SchemeName).AddScheme<AuthenticationSchemeOptions, TestAuthentication>(TestAuthentication.SchemeName, null);
        builder.Services.AddAuthorization(o => o.AddPolicy("ops", p => p.RequireRole("ops")));
        var poison = new PoisonKeys();
        builder.Services.AddSingleton(poison);
        var orders = new InMemoryStream(ordersStreamName, shardCount: 2);
        var payments = new InMemoryStream("payments-stream", shardCount: 1);
        ordersSink ??= new InMemoryDeadLetterSink();
        builder.Services.AddStreamConsumer<FailingHandler>(ParkingConsumer, o =>
            {
                o.FailureMode = KeyFailureMode.ParkKey;
                o.MaxAttempts = 3;
                o.Retry.InitialDelay = TimeSpan.FromMilliseconds(20);
                o.CheckpointInterval = TimeSpan.FromMilliseconds(200);
            })
            .FromInMemory(orders)
            .UseInMemoryCheckpoints()
            .UseDeadLetterSink(jsonLinesPath is null ? ordersSink : new JsonLinesDeadLetterSink(jsonLinesPath));
        builder.Services.AddStreamConsumer<FailingHandler>(RetryingConsumer, o =>
            {
                o.FailureMode = KeyFailureMode.RetryUntilSuccess;
                o.Retry.InitialDelay = TimeSpan.FromMilliseconds(100);
                o.Retry.MaxDelay = TimeSpan.FromMilliseconds(300);
                o.CheckpointInterval = TimeSpan.FromMilliseconds(200);
            })
            .FromInMemory(payments)
            .UseInMemoryCheckpoints()
            .UseDeadLetterSink(new InMemoryDeadLetterSink());

        WebApplication app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapGet("/test-login", (HttpContext http, string user, string? role) =>
        {
            http.Response.Cookies.Append("test-user", role is null ? user : $"{user};{role}", new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict });
            return Results.Text("signed in");
        });
        RouteGroupBuilder dashboard = app.MapStreamLanesDashboard("/streamlanes", configure);
        if (requireAuthorization)
        {
            dashboard.RequireAuthorization("ops");
        }

        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new DashboardTestHost(app, address.TrimEnd('/'), orders, payments, ordersSink, poison);
    }

    public HttpClient Client(string? user = null, string? role = null)
    {
        var handler = new HttpClientHandler { CookieContainer = new CookieContainer(), UseCookies = true };
        var client = new HttpClient(handler) { BaseAddress = new Uri(BaseUrl + "/"), Timeout = TimeSpan.FromSeconds(30) };
        if (user is not null)
        {
            client.DefaultRequestHeaders.Add("X-Test-User", role is null ? user : $"{user};{role}");
        }

        return client;
    }

    /// <summary>Waits for a condition, polling; fails naming what was awaited after the bound.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? within = null)
    {
        TimeSpan bound = within ?? TimeSpan.FromSeconds(20);
        using var timeout = new CancellationTokenSource(bound);
        while (!condition())
        {
            if (timeout.IsCancellationRequested)
            {
                Assert.Fail($"Timed out after {bound.TotalSeconds:N0} s waiting for {what}.");
            }

            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }

    private sealed class TestAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        public const string SchemeName = "Test";

        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            string? value = Request.Headers["X-Test-User"].FirstOrDefault() ?? Request.Cookies["test-user"];
            if (string.IsNullOrEmpty(value))
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }

            string[] parts = value.Split(';');
            var claims = new List<Claim> { new(ClaimTypes.Name, parts[0]) };
            if (parts.Length > 1)
            {
                claims.Add(new Claim(ClaimTypes.Role, parts[1]));
            }

            var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
        }
    }
}
