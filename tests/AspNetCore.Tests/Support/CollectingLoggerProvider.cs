using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace StreamLanes.AspNetCore.Tests;

/// <summary>Keeps every log line of a host (category, formatted message, exception text) for assertions.</summary>
public sealed class CollectingLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<(string Category, string Text)> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Collector(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Collector(CollectingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => owner.Lines.Enqueue((category, $"{formatter(state, exception)} {exception}"));
    }
}
