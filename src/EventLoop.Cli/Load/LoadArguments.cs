using System.CommandLine;
using EventLoop.Cli.CommandLine;
using EventLoop.Cli.Serve;
using static EventLoop.Cli.CommandLine.OptionValues;

namespace EventLoop.Cli.Load;

/// <summary><c>eventloop load</c>'s options, one line each, and how they become <see cref="LoadOptions"/>.</summary>
internal static class LoadArguments
{
    public const string Description = "Drives RESP load against a server and measures latency honestly.";

    public const string Notes = Syntax + """

        Ctrl+C stops a run early; the summary then covers what was measured.
        Exit codes: 0 done (also after Ctrl+C), 1 no connection could be made or the server
        was lost, 2 bad options or a run that cannot fit the open-file limit.
        """;

    /// <summary>Every option of <c>load</c>; defaults come from <see cref="LoadOptions"/>.</summary>
    public static readonly OptionTable<LoadOptions> Options = new(new LoadOptions())
    {
        { "--host", "HOST", "server address", o => o.Host, Text, (o, v) => o with { Host = v } },
        { "--port", "PORT", "server port", o => o.Port, Whole, (o, v) => o with { Port = v } },
        { "--connections -c", "N", "busy connections that send requests", o => o.Connections, Whole, (o, v) => o with { Connections = v } },
        { "--idle", "N", "extra connections opened and held idle", o => o.Idle, Whole, (o, v) => o with { Idle = v } },
        { "--connect-rate", "N", "new connections per second, reconnects too", o => o.ConnectRate > 0 ? o.ConnectRate : "unlimited", Number, (o, v) => o with { ConnectRate = v } },
        { "--threads", "N", "load threads, each with its own multiplexer", o => o.Threads, Whole, (o, v) => o with { Threads = v } },
        { "--backend", "NAME", "multiplexer: epoll, epoll-et, poll, select, io_uring", o => o.Backend, Text, (o, v) => o with { Backend = v }, ServeCommand.Backends[1..] },
        { "--pipeline -P", "N", "requests in flight per connection", o => o.Pipeline, Whole, (o, v) => o with { Pipeline = v } },
        { "--pipeline-mode", "MODE", "window: a new request as each reply arrives; batch: send N together, wait for all N replies, repeat " +
            "(as redis-benchmark does; with --rate, requests leave in batches of N)", o => Word(o.PipelineMode), ParseWord<PipelineMode>, (o, v) => o with { PipelineMode = v }, Words<PipelineMode>() },
        { "--rate", "N", "open loop: total requests per second, latency measured from each request's intended send time",
            o => o.Rate > 0 ? o.Rate : "closed loop, no rate", Number, (o, v) => o with { Rate = v } },
        { "--command", "LINE", "the command sent; {key} is a random key, {payload} is --payload-bytes of 'x'", o => o.Command, Text, (o, v) => o with { Command = v } },
        { "--lifecycle", "drive task lifecycles instead of --command: SUBMIT <task> ARGS <payload>, then RESULT <id> TIMEOUT <ms> on the " +
            "returned id; one lifecycle is one latency sample, and a result other than the payload is an error", o => o with { Lifecycle = true } },
        { "--task", "NAME", "with --lifecycle: the task submitted; it must return its argument", o => o.Task, Text, (o, v) => o with { Task = v } },
        { "--result-timeout", "TIME", "with --lifecycle: the RESULT's TIMEOUT; a task unfinished by then counts as a pending error",
            o => o.ResultTimeout, Time, (o, v) => o with { ResultTimeout = v } },
        { "--payload-bytes", "SIZE", "size of {payload}, or of the lifecycle's task argument", o => o.PayloadBytes, SmallSize, (o, v) => o with { PayloadBytes = v } },
        { "--keyspace", "N", "{key} is a number in 0..N-1, fixed width", o => o.Keyspace, Whole, (o, v) => o with { Keyspace = v } },
        { "--duration -d", "TIME", "measured time after the warm-up", _ => $"{Show(LoadOptions.DefaultDuration)}, unless --requests is given", Time, (o, v) => o with { Duration = v } },
        { "--requests -n", "N", "measured requests after the warm-up", _ => "no bound", LongWhole, (o, v) => o with { Requests = v } },
        { "--warmup", "TIME", "unmeasured time at the start", o => o.Warmup, Time, (o, v) => o with { Warmup = v } },
        { "--timeout", "TIME", "a connect or reply slower than this counts as a timeout error", o => o.Timeout, Time, (o, v) => o with { Timeout = v } },
        { "--json", "FILE", "also write the report as JSON", o => o.JsonPath, Text, (o, v) => o with { JsonPath = v } },
        { "--plot", "FILE", "also draw the latency percentile spectrum as SVG (corrected and uncorrected in open loop)", o => o.PlotPath, Text, (o, v) => o with { PlotPath = v } },
    };

    /// <summary>Parses <paramref name="args"/> (after <c>load</c>); on failure returns null and says why in <paramref name="error"/>.</summary>
    public static LoadOptions? Parse(string[] args, out bool helpRequested, out string? error)
    {
        ParseResult parsed = EventLoopCommandLine.Create(liveProgress: false).Parse(["load", .. args]);
        helpRequested = EventLoopCommandLine.IsHelp(parsed);
        error = helpRequested ? null : parsed.Errors.Select(e => e.Message).FirstOrDefault();
        return error is null ? Bind(parsed, out error) : null;
    }

    /// <summary>The options a parsed <c>load</c> command line describes, or null with the reason when they cannot run.</summary>
    public static LoadOptions? Bind(ParseResult parsed, out string? error)
    {
        LoadOptions options = Options.Bind(parsed);
        error = options.Validate();
        return error is null ? options : null;
    }
}
