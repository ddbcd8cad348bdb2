using EventLoop.Cli.CommandLine;

namespace EventLoop.Cli.Monitor;

/// <summary>Which running server <c>eventloop info</c> and <c>eventloop stat</c> ask, and how often. Immutable.</summary>
internal sealed record MonitorOptions
{
    /// <summary>Server host name or address (<c>--host</c>).</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>Server port (<c>--port</c>); the server's own default.</summary>
    public int Port { get; init; } = new ServerOptions().Port;

    /// <summary>Time between two lines of <c>stat</c> (<c>--interval</c>).</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Lines <c>stat</c> prints before it stops (<c>--count</c>); null: until Ctrl+C.</summary>
    public int? Count { get; init; }

    /// <summary>A table with the options every monitoring command takes: where the server is.</summary>
    public static OptionTable<MonitorOptions> TargetOptions() => new(new MonitorOptions())
    {
        { "--host", "HOST", "server address", o => o.Host, OptionValues.Text, (o, v) => o with { Host = v } },
        { "--port", "PORT", "server port", o => o.Port, OptionValues.Whole, (o, v) => o with { Port = v } },
    };

    /// <summary>Returns what is wrong with these options, or null.</summary>
    public string? Validate() =>
        Port is < 1 or > 65535 ? $"--port {Port}: must be 1..65535"
        : Interval < TimeSpan.FromMilliseconds(10) ? "--interval: at least 10ms"
        : Count < 1 ? $"--count {Count}: at least 1"
        : null;
}
