using System.Globalization;

namespace EventLoop.Cli.Load;

/// <summary>Turns <c>eventloop load</c>'s command line into <see cref="LoadOptions"/>, and says how to use it.</summary>
internal static class LoadArguments
{
    public const string Help = """
        eventloop load — drive RESP load against a server and measure latency honestly

        usage: eventloop load [options]

        target
          --host HOST            server address                               (default 127.0.0.1)
          --port PORT            server port                                  (default 7379)
        connections
          -c, --connections N    busy connections that send requests          (default 50)
          --idle N               extra connections opened and held idle       (default 0)
          --connect-rate N       new connections per second, reconnects too   (default unlimited)
          --threads N            load threads, each with its own multiplexer  (default 1)
          --backend NAME         multiplexer: epoll, epoll-et, poll, select,
                                 io_uring                                     (default epoll)
        load shape
          -P, --pipeline N       requests in flight per connection            (default 1)
          --pipeline-mode MODE   window: a new request as each reply arrives;
                                 batch: send N together, wait for all N
                                 replies, repeat (as redis-benchmark does;
                                 with --rate, requests leave in batches of N) (default window)
          --rate N               open loop: total requests per second, latency
                                 measured from each request's intended send
                                 time (default: closed loop, no rate)
          --command "LINE"       the command sent; {key} is a random key,
                                 {payload} is --payload-bytes of 'x'          (default PING)
          --payload-bytes N      size of {payload}                            (default 16)
          --keyspace N           {key} is a number in 0..N-1, fixed width     (default 100000)
        bounds (the run always stops by itself)
          -d, --duration TIME    measured time after the warm-up              (default 10s, unless
                                                                              --requests is given)
          -n, --requests N       measured requests after the warm-up          (default: no bound)
          --warmup TIME          unmeasured time at the start                 (default 1s)
          --timeout TIME         a connect or reply slower than this counts
                                 as a timeout error                           (default 10s)
        output
          --json FILE            also write the report as JSON                (default: none)
          -h, --help             this text

        TIME is a number of seconds, or a number with ms, s or m (500ms, 2.5s, 1m).
        Ctrl+C stops a run early; the summary then covers what was measured.
        Exit codes: 0 done (also after Ctrl+C), 1 no connection could be made or the server
        was lost, 2 bad options or a run that cannot fit the open-file limit.
        """;

    /// <summary>Parses <paramref name="args"/>; on failure returns null and says why in <paramref name="error"/>.</summary>
    public static LoadOptions? Parse(string[] args, out bool helpRequested, out string? error)
    {
        var options = new LoadOptions();
        helpRequested = false;
        error = null;
        for (int i = 0; i < args.Length; i++)
        {
            string name = args[i];
            string? value = null;
            int equals = name.IndexOf('=');
            if (name.StartsWith("--", StringComparison.Ordinal) && equals > 0)
                (name, value) = (name[..equals], name[(equals + 1)..]);
            if (name is "-h" or "--help")
            {
                helpRequested = true;
                return options;
            }
            if (value is null && i + 1 < args.Length)
                value = args[++i];
            try
            {
                options = Apply(options, name, value);
            }
            catch (FormatException e)
            {
                error = e.Message;
                return null;
            }
        }
        error = options.Validate();
        return error is null ? options : null;
    }

    private static LoadOptions Apply(LoadOptions o, string name, string? value) => name switch
    {
        "--host" => o with { Host = Text(name, value) },
        "--port" => o with { Port = Int(name, value) },
        "-c" or "--connections" => o with { Connections = Int(name, value) },
        "--idle" => o with { Idle = Int(name, value) },
        "--connect-rate" => o with { ConnectRate = Number(name, value) },
        "--threads" => o with { Threads = Int(name, value) },
        "-P" or "--pipeline" => o with { Pipeline = Int(name, value) },
        "--pipeline-mode" => o with { PipelineMode = Mode(name, value) },
        "--rate" => o with { Rate = Number(name, value) },
        "--command" => o with { Command = Text(name, value) },
        "--payload-bytes" => o with { PayloadBytes = Int(name, value) },
        "--keyspace" => o with { Keyspace = Int(name, value) },
        "-d" or "--duration" => o with { Duration = Time(name, value) },
        "-n" or "--requests" => o with { Requests = Long(name, value) },
        "--warmup" => o with { Warmup = Time(name, value) },
        "--timeout" => o with { Timeout = Time(name, value) },
        "--backend" => o with { Backend = Text(name, value) },
        "--json" => o with { JsonPath = Text(name, value) },
        _ => throw new FormatException($"unknown option '{name}'"),
    };

    private static string Text(string name, string? value) =>
        value ?? throw new FormatException($"{name} needs a value");

    private static int Int(string name, string? value) =>
        int.TryParse(Text(name, value).Replace("_", ""), NumberStyles.Integer, CultureInfo.InvariantCulture, out int n)
            ? n : throw new FormatException($"{name} '{value}': not a whole number");

    private static long Long(string name, string? value) =>
        long.TryParse(Text(name, value).Replace("_", ""), NumberStyles.Integer, CultureInfo.InvariantCulture, out long n)
            ? n : throw new FormatException($"{name} '{value}': not a whole number");

    private static double Number(string name, string? value) =>
        double.TryParse(Text(name, value).Replace("_", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out double n)
            ? n : throw new FormatException($"{name} '{value}': not a number");

    private static PipelineMode Mode(string name, string? value) => Text(name, value) switch
    {
        "window" => PipelineMode.Window,
        "batch" => PipelineMode.Batch,
        _ => throw new FormatException($"{name} '{value}': use window or batch"),
    };

    /// <summary>Parses 10, 10s, 500ms, 2.5s or 1m.</summary>
    public static TimeSpan Time(string name, string? value)
    {
        string text = Text(name, value).Trim();
        (string digits, double unitSeconds) =
            text.EndsWith("ms", StringComparison.Ordinal) ? (text[..^2], 0.001)
            : text.EndsWith('s') ? (text[..^1], 1.0)
            : text.EndsWith('m') ? (text[..^1], 60.0)
            : (text, 1.0);
        return double.TryParse(digits, NumberStyles.Float, CultureInfo.InvariantCulture, out double n) && n >= 0 && n < 1e7
            ? TimeSpan.FromSeconds(n * unitSeconds)
            : throw new FormatException($"{name} '{value}': not a time (use e.g. 10, 10s, 500ms, 1m)");
    }
}
