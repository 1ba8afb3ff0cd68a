using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace StreamLanes.Engine.Tests.Support;

/// <summary>
/// Sums one counter's measurements, from the meters of one host only (those its <see cref="IMeterFactory"/> created),
/// while it is alive: tests that run at the same time in other hosts do not add to it.
/// </summary>
public sealed class CounterSum : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _total;

    public CounterSum(IServiceProvider services, string instrumentName)
    {
        IMeterFactory factory = services.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Scope == factory && instrument.Name == instrumentName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _total, value));
        _listener.Start();
    }

    public long Total => Interlocked.Read(ref _total);

    public void Dispose() => _listener.Dispose();
}
