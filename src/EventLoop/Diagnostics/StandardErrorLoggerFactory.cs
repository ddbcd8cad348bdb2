using Microsoft.Extensions.Logging;

namespace EventLoop.Diagnostics;

/// <summary>
/// The logging of a server given no <see cref="ServerOptions.LoggerFactory"/>: Information and above, one line
/// per message on standard error, written synchronously (a line must not wait in a queue while the process
/// runs out of descriptors). Thread-safe: <see cref="Console.Error"/> is synchronised.
/// </summary>
internal sealed class StandardErrorLoggerFactory : ILoggerFactory
{
    public static readonly StandardErrorLoggerFactory Instance = new();

    public ILogger CreateLogger(string categoryName) => Logger.Instance;

    public void AddProvider(ILoggerProvider provider) =>
        throw new NotSupportedException("set ServerOptions.LoggerFactory to log elsewhere");

    public void Dispose()
    {
    }

    private sealed class Logger : ILogger
    {
        public static readonly Logger Instance = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
                Console.Error.WriteLine($"{DateTime.Now:yyyy-MM-dd HH:mm:ss.fff} eventloop: {formatter(state, exception)}{(exception is null ? "" : $": {exception}")}");
        }
    }
}
