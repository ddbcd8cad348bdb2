using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace EventLoop.Cli.Serve;

/// <summary>
/// <c>eventloop serve</c>'s logging: Microsoft.Extensions.Logging's console provider, one line per message on
/// standard error (standard output carries the banner that scripts read).
/// </summary>
/// <remarks>
/// Put together by hand rather than with <c>LoggerFactory.Create</c>: the builder and the general factory bring
/// in dependency injection, configuration and activity tracking, a dozen more assemblies, and the runtime
/// holds two descriptors open per assembly, which a server near its descriptor limit (ulimit -n) must not
/// spend: each pair is one client fewer. One provider and one threshold need none of that.
/// </remarks>
internal sealed class ConsoleLogging(ConsoleLoggerProvider console, LogLevel level) : ILoggerFactory
{
    /// <summary>A factory logging <paramref name="level"/> and above to standard error.</summary>
    public static ILoggerFactory Create(LogLevel level)
    {
        var options = new ConsoleLoggerOptions { FormatterName = LineFormatter.Name, LogToStandardErrorThreshold = LogLevel.Trace };
        return new ConsoleLogging(new ConsoleLoggerProvider(new Fixed<ConsoleLoggerOptions>(options), [new LineFormatter()]), level);
    }

    public ILogger CreateLogger(string categoryName) => new Threshold(console.CreateLogger(categoryName), level);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException("eventloop serve logs to the console only");

    /// <summary>Flushes the lines still queued and stops the console's writer thread.</summary>
    public void Dispose() => console.Dispose();

    /// <summary>The console logger less what is below the threshold.</summary>
    private sealed class Threshold(ILogger inner, LogLevel level) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel >= level && inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
                inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }

    /// <summary><c>2026-12-01 20:58:10.364 warn: EventLoop.Reactor message</c>, and the exception, if any, on the lines below.</summary>
    private sealed class LineFormatter() : ConsoleFormatter(Name)
    {
        public new const string Name = "eventloop";

        public override void Write<TState>(in LogEntry<TState> entry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
        {
            string message = entry.Formatter(entry.State, entry.Exception);
            textWriter.Write($"{DateTime.Now:yyyy-MM-dd HH:mm:ss.fff} {Abbreviation(entry.LogLevel)}: {entry.Category} {message}\n");
            if (entry.Exception is not null)
                textWriter.Write($"{entry.Exception}\n");
        }

        private static string Abbreviation(LogLevel level) => level switch
        {
            LogLevel.Trace => "trce",
            LogLevel.Debug => "dbug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            _ => "crit",
        };
    }

    /// <summary>Options that never change: the command line is read once.</summary>
    private sealed class Fixed<T>(T value) : IOptionsMonitor<T>
    {
        public T CurrentValue => value;

        public T Get(string? name) => value;

        public IDisposable? OnChange(Action<T, string?> listener) => null;
    }
}
