using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using StreamLanes;
using StreamLanes.AspNetCore;
using StreamLanes.OpenTelemetry;
using StreamLanes.Samples.AspNetHost;
using StreamLanes.Sinks;

// StreamLanes inside an ASP.NET app: the consumer runs as a hosted service next to the endpoints, with its health
// check, its status, and the operator actions on parked keys and dead letters.
//   dotnet run --project samples/AspNetHost --urls http://127.0.0.1:5080
//   curl -X POST 127.0.0.1:5080/orders -d '{"orderId":1,"customerId":"c-1"}' -H 'content-type: application/json'
//   curl 127.0.0.1:5080/health ; curl 127.0.0.1:5080/consumers/orders
//   (orders of customer c-locked fail and park the key; POST /downstream/unlock, then
//    POST /consumers/orders/keys/c-locked/replay replays them in order and releases the key)
// The operator's dashboard is at http://127.0.0.1:5080/streamlanes: in this sample anyone on the loopback interface
// is the operator (see the "ops" policy below); a real app names its own policy (a role, a group claim).
// Traces and metrics go to the console, or to an OTLP collector when OpenTelemetry:OtlpEndpoint (or the standard
// OTEL_EXPORTER_OTLP_ENDPOINT variable) is set; Prometheus scrapes http://127.0.0.1:5080/metrics. An order posted with a
// W3C traceparent header carries it as a record attribute, and its processing span links to it:
//   curl -X POST 127.0.0.1:5080/orders -d '{"orderId":2,"customerId":"c-2"}' -H 'content-type: application/json' \
//        -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
WebApplicationBuilder builder = WebApplication.CreateBuilder(args);
builder.Services.AddAntiforgery();
builder.Services.AddAuthentication();
builder.Services.AddAuthorization(options => options.AddPolicy("ops", policy => policy.RequireAssertion(context =>
    context.Resource is HttpContext http && http.Connection.RemoteIpAddress is { } address && System.Net.IPAddress.IsLoopback(address))));
var stream = new InMemoryStream("orders-stream", shardCount: 2);
builder.Services.AddSingleton(stream);
builder.Services.AddStreamConsumer<OrderHandler>("orders", options =>
    {
        options.FailureMode = KeyFailureMode.ParkKey;
        options.DataDirectory = "streamlanes-web-data";
    })
    .FromInMemory(stream)
    .TreatAsNonRetryable<ArgumentException>();

string? otlpEndpoint = builder.Configuration["OpenTelemetry:OtlpEndpoint"] ?? builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"];
builder.Services.AddOpenTelemetry()
    .ConfigureResource(resource => resource.AddService("streamlanes-aspnet-sample"))
    .WithTracing(tracing =>
    {
        tracing.AddStreamLanesInstrumentation();
        if (otlpEndpoint is null)
        {
            tracing.AddConsoleExporter();
        }
        else
        {
            tracing.AddOtlpExporter(otlp => otlp.Endpoint = new Uri(otlpEndpoint));
        }
    })
    .WithMetrics(metrics =>
    {
        metrics.AddStreamLanesInstrumentation().AddPrometheusExporter();
        if (otlpEndpoint is null)
        {
            metrics.AddConsoleExporter((_, reader) => reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 30_000);
        }
        else
        {
            metrics.AddOtlpExporter(otlp => otlp.Endpoint = new Uri(otlpEndpoint));
        }
    });

WebApplication app = builder.Build();

// Prometheus' scraping endpoint (metric names and consumer, stream and queue names; never a payload), for operators only.
app.MapPrometheusScrapingEndpoint("/metrics").RequireAuthorization("ops");

// The dashboard: consumers, shards, blocked and parked keys, dead letters (payloads shown: this is a demo), and the
// replay, release and purge actions, each confirmed after a dry run.
app.MapStreamLanesDashboard("/streamlanes", options => options.ShowPayloads = true)
    .RequireAuthorization("ops");

app.MapPost("/orders", (OrderPlaced order, InMemoryStream orders, HttpRequest request) =>
{
    // The producer's trace context travels with the record, as an SQS message attribute would carry it.
    Dictionary<string, string>? attributes = request.Headers.TraceParent is [{ } traceParent]
        ? new() { ["traceparent"] = traceParent }
        : null;
    StreamRecord record = orders.Put(order.CustomerId, JsonSerializer.SerializeToUtf8Bytes(order, JsonSerializerOptions.Web), attributes);
    return Results.Accepted(value: new { record.ShardId, record.SequenceNumber });
});

app.MapHealthChecks("/health", new HealthCheckOptions
{
    ResponseWriter = (context, report) => context.Response.WriteAsJsonAsync(report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), e.Value.Description })),
});

app.MapGet("/consumers/{name}", (string name, IServiceProvider services) =>
    services.GetKeyedService<IStreamConsumer>(name) is { } consumer
        ? Results.Ok(new { status = consumer.GetStatus() with { Fault = null }, parkedKeys = consumer.ParkedKeys })
        : Results.NotFound());

// Simulates fixing the downstream, so that a replay can succeed.
app.MapPost("/downstream/unlock", () => OrderHandler.Unlocked = true);

// Replays a parked key's dead letters through the handler, in order; the key is released once its backlog succeeded.
app.MapPost("/consumers/{name}/keys/{key}/replay", async (string name, string key, IServiceProvider services, CancellationToken cancellationToken) =>
{
    if (services.GetKeyedService<IStreamConsumer>(name) is not { } consumer)
    {
        return Results.NotFound();
    }

    // The consumer's own store: a second sink on its file would be a second writer, and the consumer refuses to share it.
    DeadLetterRedriveReport report = await consumer.ReplayDeadLettersAsync(
        new DeadLetterRedriveOptions { Filter = new DeadLetterFilter { Consumer = name, PartitionKey = key } },
        cancellationToken);
    return Results.Ok(new { report.Counts, report.ReleasedKeys });
});

app.Run();

namespace StreamLanes.Samples.AspNetHost
{
    /// <summary>An order; the customer id is the partition key.</summary>
    public sealed record OrderPlaced(int OrderId, string CustomerId);

    /// <summary>Rejects orders with a negative id (non-retryable), fails customer "c-locked" until its orders are replayed later.</summary>
    public sealed class OrderHandler(ILogger<OrderHandler> logger) : IStreamHandler<OrderPlaced>
    {
        public static bool Unlocked { get; set; }

        public ValueTask HandleAsync(OrderPlaced message, HandlerContext context)
        {
            if (message.OrderId < 0)
            {
                throw new ArgumentException($"Order id {message.OrderId} is invalid.");
            }

            if (message.CustomerId == "c-locked" && !Unlocked)
            {
                throw new InvalidOperationException("Customer c-locked is locked downstream.");
            }

            Log.OrderHandled(logger, message.OrderId, message.CustomerId, context.Attempt);
            return ValueTask.CompletedTask;
        }
    }

    internal static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Order {OrderId} of {CustomerId} handled (attempt {Attempt}).")]
        public static partial void OrderHandled(ILogger logger, int orderId, string customerId, int attempt);
    }
}
