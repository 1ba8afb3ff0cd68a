using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace StreamLanes;

/// <summary>Runs one consumer for the host's lifetime: start reading at host start, drain and checkpoint at stop.</summary>
internal sealed class StreamConsumerHostedService(StreamConsumerRuntime runtime) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => runtime.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => runtime.StopAsync(cancellationToken);
}

/// <summary>Reports a consumer unhealthy when its sink keeps failing, its checkpoint is stale, or its source faulted.</summary>
internal sealed class StreamConsumerHealthCheck(StreamConsumerRuntime runtime) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        => Task.FromResult(runtime.EvaluateHealth());
}
