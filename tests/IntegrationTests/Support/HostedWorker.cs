using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;

namespace StreamLanes.IntegrationTests.Support;

/// <summary>A host with one consumer named "orders", as a separate process would run it: started, stopped gracefully, or crashed.</summary>
public abstract class HostedWorker(IHost host, RecordingHandler handler, InMemoryDeadLetterSink deadLetters) : IAsyncDisposable
{
    private bool _started;
    private bool _stopped;

    public IHost Host { get; } = host;

    public RecordingHandler Handler { get; } = handler;

    public InMemoryDeadLetterSink DeadLetters { get; } = deadLetters;

    public IStreamConsumer Consumer => Host.Services.GetRequiredKeyedService<IStreamConsumer>("orders");

    public async Task StartAsync()
    {
        await Host.StartAsync();
        _started = true;
    }

    /// <summary>A graceful stop: stop reading, drain, final checkpoint or deletes, release.</summary>
    public async Task StopAsync()
    {
        _stopped = true;
        await Host.StopAsync();
    }

    /// <summary>An abrupt stop: nothing drained, checkpointed, deleted or released (in-process stand-in for SIGKILL).</summary>
    public void Crash()
    {
        _stopped = true;
        Host.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        if (_started && !_stopped)
        {
            await Host.StopAsync();
        }

        Host.Dispose();
        GC.SuppressFinalize(this);
    }
}
