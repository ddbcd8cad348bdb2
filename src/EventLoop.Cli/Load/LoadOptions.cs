namespace EventLoop.Cli.Load;

/// <summary>
/// Everything that shapes one load run. Defaults match <c>eventloop load --help</c>.
/// Immutable: a run reads it from several threads.
/// </summary>
public sealed record LoadOptions
{
    /// <summary>How long a run lasts when neither <see cref="Duration"/> nor <see cref="Requests"/> is given.</summary>
    public static readonly TimeSpan DefaultDuration = TimeSpan.FromSeconds(10);

    /// <summary>Server host name or address (<c>--host</c>).</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>Server port (<c>--port</c>).</summary>
    public int Port { get; init; } = 7379;

    /// <summary>Busy connections that send requests (<c>-c</c>).</summary>
    public int Connections { get; init; } = 50;

    /// <summary>New connections per second, reconnects included; 0 = as fast as possible (<c>--connect-rate</c>).</summary>
    public double ConnectRate { get; init; }

    /// <summary>Load threads, each with its own multiplexer and share of connections (<c>--threads</c>).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Requests in flight per connection: the window in closed loop, the cap in open loop (<c>--pipeline</c>).</summary>
    public int Pipeline { get; init; } = 1;

    /// <summary>Keep the pipeline full, or send whole batches and wait for them (<c>--pipeline-mode</c>).</summary>
    public PipelineMode PipelineMode { get; init; } = PipelineMode.Window;

    /// <summary>Open loop: total requests per second over all busy connections; 0 = closed loop (<c>--rate</c>).</summary>
    public double Rate { get; init; }

    /// <summary>The command line sent, with <c>{key}</c> and <c>{payload}</c> placeholders (<c>--command</c>).</summary>
    public string Command { get; init; } = "PING";

    /// <summary>
    /// Drive task lifecycles instead of <see cref="Command"/>: each is <c>SUBMIT task ARGS payload</c>, then
    /// <c>RESULT id TIMEOUT ms</c> on the returned id, checked against the payload (<c>--lifecycle</c>).
    /// </summary>
    public bool Lifecycle { get; init; }

    /// <summary>Lifecycle: the task submitted; it should return its argument, as the built-in echo does (<c>--task</c>).</summary>
    public string Task { get; init; } = "echo";

    /// <summary>Lifecycle: how long the server holds a RESULT for an unfinished task before it answers -PENDING (<c>--result-timeout</c>).</summary>
    public TimeSpan ResultTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Size of <c>{payload}</c>, or of the lifecycle's task argument (<c>--payload-bytes</c>).</summary>
    public int PayloadBytes { get; init; } = 16;

    /// <summary><c>{key}</c> is a random number below this, in fixed-width digits (<c>--keyspace</c>).</summary>
    public int Keyspace { get; init; } = 100_000;

    /// <summary>Measured time after the warm-up (<c>--duration</c>); null = bounded by <see cref="Requests"/> only.</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>Measured requests after the warm-up (<c>--requests</c>); null = bounded by time only.</summary>
    public long? Requests { get; init; }

    /// <summary>Time from the start during which replies are not measured (<c>--warmup</c>).</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Extra connections opened and held without traffic (<c>--idle</c>).</summary>
    public int Idle { get; init; }

    /// <summary>Longest wait for a connect or a reply before it counts as a timeout (<c>--timeout</c>).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The load threads' multiplexer backend, as <c>eventloop serve --backend</c> names them (<c>--backend</c>).</summary>
    public string Backend { get; init; } = "epoll";

    /// <summary>Where to write the report as JSON (<c>--json</c>); null = nowhere.</summary>
    public string? JsonPath { get; init; }

    /// <summary>Where to write the latency percentile spectrum as SVG (<c>--plot</c>); null = nowhere.</summary>
    public string? PlotPath { get; init; }

    /// <summary>True in open loop (a fixed <see cref="Rate"/>), false in closed loop.</summary>
    public bool IsOpenLoop => Rate > 0;

    /// <summary>The measured time: <see cref="Duration"/>, or the default when no bound was given, or null when bounded by requests only.</summary>
    public TimeSpan? EffectiveDuration => Duration ?? (Requests is null ? DefaultDuration : null);

    /// <summary>Returns what is wrong with these options, or null when they can run.</summary>
    public string? Validate() =>
        Port is < 1 or > 65535 ? $"--port {Port}: must be 1..65535"
        : Connections < 1 ? $"-c {Connections}: at least one busy connection is needed"
        : Idle < 0 ? $"--idle {Idle}: cannot be negative"
        : Threads < 1 ? $"--threads {Threads}: at least 1"
        : Threads > Connections ? $"--threads {Threads}: more threads than connections (-c {Connections})"
        : Pipeline is < 1 or > 4096 ? $"--pipeline {Pipeline}: must be 1..4096"
        : Rate < 0 || double.IsNaN(Rate) || double.IsInfinity(Rate) ? $"--rate {Rate}: must be a positive number"
        : ConnectRate < 0 || double.IsNaN(ConnectRate) || double.IsInfinity(ConnectRate) ? $"--connect-rate {ConnectRate}: must be a positive number"
        : PayloadBytes is < 0 or > 64 * 1024 * 1024 ? $"--payload-bytes {PayloadBytes}: must be 0..64 MiB"
        : Keyspace < 1 ? $"--keyspace {Keyspace}: at least 1"
        : Duration is { } d && d <= TimeSpan.Zero ? "--duration: must be positive"
        : Requests is < 1 ? $"--requests {Requests}: at least 1"
        : Warmup < TimeSpan.Zero ? "--warmup: cannot be negative"
        : Timeout <= TimeSpan.Zero ? "--timeout: must be positive"
        : string.IsNullOrWhiteSpace(Command) ? "--command: empty"
        : Lifecycle ? ValidateLifecycle()
        : null;

    private string? ValidateLifecycle() =>
        Task.Length is < 1 or > 128 || Task.Any(c => c <= ' ' || c > '~' || c is '"' or '\'')
            ? $"--task '{Task}': a task name is 1 to 128 printable characters without spaces or quotes"
        : ResultTimeout < TimeSpan.FromMilliseconds(1) ? "--result-timeout: at least 1ms"
        : ResultTimeout >= Timeout
            ? $"--result-timeout {ResultTimeout.TotalMilliseconds:0}ms must be shorter than --timeout {Timeout.TotalMilliseconds:0}ms: " +
              "the server's -PENDING would come after the generator gave the connection up"
        : null;
}
