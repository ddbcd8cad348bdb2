using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace EventLoop.Tests.Support;

/// <summary>An <see cref="ILoggerFactory"/> that keeps every message, with its category and level, for assertions. Thread-safe.</summary>
public sealed class LogCapture : ILoggerFactory
{
    private readonly ConcurrentQueue<(string Category, LogLevel Level, string Message)> _entries = new();

    /// <summary>Everything logged, in order.</summary>
    public IReadOnlyCollection<(string Category, LogLevel Level, string Message)> Entries => _entries;

    /// <summary>The messages alone, in order.</summary>
    public IReadOnlyCollection<string> Messages => [.. _entries.Select(e => e.Message)];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

    public void Dispose()
    {
    }

    private sealed class Logger(LogCapture capture, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            capture._entries.Enqueue((category, logLevel, formatter(state, exception)));
    }
}
