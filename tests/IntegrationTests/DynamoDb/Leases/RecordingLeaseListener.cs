using System.Collections.Concurrent;
using System.Diagnostics;
using StreamLanes.Checkpointing;

namespace StreamLanes.IntegrationTests.Leases;

/// <summary>Records which leases a coordinator hands to its source, and when (Stopwatch timestamps).</summary>
internal sealed class RecordingLeaseListener : ILeaseListener
{
    public ConcurrentQueue<(HeldLease Lease, long At)> Acquired { get; } = new();

    public ConcurrentQueue<(HeldLease Lease, long At)> Lost { get; } = new();

    public Task OnLeaseAcquiredAsync(HeldLease lease, CancellationToken cancellationToken)
    {
        Acquired.Enqueue((lease, Stopwatch.GetTimestamp()));
        return Task.CompletedTask;
    }

    public Task OnLeaseLostAsync(HeldLease lease)
    {
        Lost.Enqueue((lease, Stopwatch.GetTimestamp()));
        return Task.CompletedTask;
    }
}
