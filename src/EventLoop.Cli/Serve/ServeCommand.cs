using System.CommandLine;
using System.Runtime.InteropServices;
using EventLoop.Cli.CommandLine;
using EventLoop.Journal;
using EventLoop.Reactor;
using EventLoop.Workers;
using Microsoft.Extensions.Logging;
using static EventLoop.Cli.CommandLine.OptionValues;

namespace EventLoop.Cli.Serve;

/// <summary><c>eventloop serve</c>: runs the server until SIGINT or SIGTERM, then stops gracefully.</summary>
internal static class ServeCommand
{
    /// <summary>The multiplexer backends by the names <c>--backend</c> takes, for tab completion (before the tables that use it: static fields start in order).</summary>
    internal static readonly string[] Backends = ["auto", "epoll", "epoll-et", "poll", "select", "io_uring"];

    /// <summary>Every option of <c>serve</c>, one line each; defaults come from <see cref="ServerOptions"/>.</summary>
    internal static readonly OptionTable<ServerOptions> Options = new(new ServerOptions())
    {
        { "--bind", "ADDRESS", "address to listen on", o => o.BindAddress, Text, (o, v) => o with { BindAddress = v } },
        { "--port", "N", "TCP port (0: any free port)", o => o.Port, Whole, (o, v) => o with { Port = v } },
        { "--http-port", "N", "HTTP port of the dashboard and /metrics (0: off)", o => o.HttpPort, Whole, (o, v) => o with { HttpPort = v } },
        { "--http-bind", "ADDRESS", "address the HTTP endpoint listens on", o => o.HttpBindAddress, Text, (o, v) => o with { HttpBindAddress = v } },
        { "--backend", "NAME", "multiplexer: auto, epoll, epoll-et, poll, select, io_uring", o => o.Backend, Text, (o, v) => o with { Backend = v }, Backends },
        { "--workers", "N", "worker threads running tasks", o => o.Workers, Whole, (o, v) => o with { Workers = v } },
        { "--inline-tasks", "auto|yes|no", "run proven-short tasks on the reactor instead of a worker (auto: under 50 µs on one CPU, 5 µs on more; yes: 50 µs)", o => Word(o.InlineTasks), ParseWord<InlineTaskMode>, (o, v) => o with { InlineTasks = v }, Words<InlineTaskMode>() },
        { "--ring-capacity", "N", "slots in the reactor-to-workers ring (power of two)", o => o.RingCapacity, Whole, (o, v) => o with { RingCapacity = v } },
        { "--max-clients", "N", "connections served at once", o => o.MaxClients, Whole, (o, v) => o with { MaxClients = v } },
        { "--max-inflight", "N", "requests in flight per connection before reading pauses", o => o.MaxInflight, Whole, (o, v) => o with { MaxInflight = v } },
        { "--max-output-bytes", "SIZE", "unsent reply bytes per connection before disconnecting it", o => ShowSize(o.MaxOutputBytes), Size, (o, v) => o with { MaxOutputBytes = v } },
        { "--max-arg-bytes", "SIZE", "largest argument accepted", o => ShowSize(o.MaxArgBytes), SmallSize, (o, v) => o with { MaxArgBytes = v } },
        { "--max-args", "N", "most arguments in one request", o => o.MaxArgs, Whole, (o, v) => o with { MaxArgs = v } },
        { "--max-request-bytes", "SIZE", "largest incomplete request buffered per connection", o => ShowSize(o.MaxRequestBytes), Size, (o, v) => o with { MaxRequestBytes = v } },
        { "--read-budget", "N", "reads per connection per readiness event", o => o.ReadBudget, Whole, (o, v) => o with { ReadBudget = v } },
        { "--backlog", "N", "listen(2) backlog", o => o.Backlog, Whole, (o, v) => o with { Backlog = v } },
        { "--idle-timeout", "TIME", "close connections idle this long (0: never)", o => o.IdleTimeout, Time, (o, v) => o with { IdleTimeout = v } },
        { "--request-timeout", "TIME", "close a connection whose request stays incomplete this long (0: never)", o => o.RequestTimeout, Time, (o, v) => o with { RequestTimeout = v } },
        { "--task-timeout", "TIME", "answer 'timed out' for tasks running longer, replacing stuck workers (0: never)", o => o.TaskTimeout, Time, (o, v) => o with { TaskTimeout = v } },
        { "--shutdown-timeout", "TIME", "how long SIGTERM waits for accepted tasks", o => o.ShutdownTimeout, Time, (o, v) => o with { ShutdownTimeout = v } },
        { "--max-tasks", "N", "tasks the queue keeps, finished ones included, before SUBMIT answers -FULL", o => o.MaxTasks, Whole, (o, v) => o with { MaxTasks = v } },
        { "--max-result-bytes", "SIZE", "largest task result kept (a larger one fails the attempt)", o => ShowSize(o.MaxResultBytes), SmallSize, (o, v) => o with { MaxResultBytes = v } },
        { "--max-queues", "N", "distinct queue names", o => o.MaxQueues, Whole, (o, v) => o with { MaxQueues = v } },
        { "--max-schedules", "N", "periodic schedules kept", o => o.MaxSchedules, Whole, (o, v) => o with { MaxSchedules = v } },
        { "--dead-ttl", "TIME", "how long a failed task stays in the dead set", o => o.DeadTaskTtl, Time, (o, v) => o with { DeadTaskTtl = v } },
        { "--max-lease-losses", "N", "lost leases in a row before a task fails", o => o.MaxLeaseLosses, Whole, (o, v) => o with { MaxLeaseLosses = v } },
        { "--maxmemory-clients", "SIZE", "memory all clients may hold together; past it the largest are closed (0: no limit)", o => ShowSize(o.MaxMemoryClients), Size, (o, v) => o with { MaxMemoryClients = v } },
        { "--max-unauth-args", "N", "most arguments in a request before AUTH (with --requirepass)", o => o.MaxUnauthenticatedArgs, Whole, (o, v) => o with { MaxUnauthenticatedArgs = v } },
        { "--max-unauth-arg-bytes", "SIZE", "largest argument or inline request before AUTH (with --requirepass)", o => ShowSize(o.MaxUnauthenticatedBulkBytes), SmallSize, (o, v) => o with { MaxUnauthenticatedBulkBytes = v } },
        { "--requirepass", "PASSWORD", "clients must AUTH with this password", o => o.RequirePass is null ? "none" : "set", Text, (o, v) => o with { RequirePass = v } },
        { "--requirepass-file", "PATH", "read the password from the first line of a file (keeps it out of ps)", _ => null, FirstLine, (o, v) => o with { RequirePass = v } },
        { "--protected-mode", "yes|no", "refuse non-loopback addresses without a password", o => o.ProtectedMode, YesNo, (o, v) => o with { ProtectedMode = v }, ["yes", "no"] },
        { "--store", "URL", "where the task queue lives: memory, or postgres://user@host:port/db shared by several nodes (docs/scaling.md)", o => o.Store ?? "memory", Text, (o, v) => o with { Store = v == "memory" ? null : v } },
        { "--appendonly", "yes|no", "keep a journal of the task queue in --dir and replay it at start", o => o.AppendOnly, YesNo, (o, v) => o with { AppendOnly = v }, ["yes", "no"] },
        { "--dir", "PATH", "directory of the journal (eventloop.journal)", o => o.Dir, Text, (o, v) => o with { Dir = v } },
        { "--appendfsync", "POLICY", "fsync the journal: always (per batch, replies wait for it), everysec, no", o => FsyncPolicies.Name(o.AppendFsync), FsyncPolicies.Parse, (o, v) => o with { AppendFsync = v }, ["always", "everysec", "no"] },
        { "--journal-wait", "auto|poll|sleep", "while replies wait for the journal's fsync, an idle reactor polls, yielding its CPU, for up to 1 ms instead of sleeping (auto: on one CPU)", o => Word(o.JournalWait), ParseWord<JournalWaitMode>, (o, v) => o with { JournalWait = v }, Words<JournalWaitMode>() },
        { "--journal-repair", "yes|no", "start even if the journal is damaged before its end, skipping the damaged bytes", o => o.JournalRepair, YesNo, (o, v) => o with { JournalRepair = v }, ["yes", "no"] },
        { "--journal-rewrite-percentage", "N", "rewrite the journal once it grew N% over its size after the last rewrite (0: never by itself)", o => o.JournalRewritePercentage, Whole, (o, v) => o with { JournalRewritePercentage = v } },
        { "--journal-rewrite-min-size", "SIZE", "no automatic journal rewrite below this size", o => ShowSize(o.JournalRewriteMinSize), Size, (o, v) => o with { JournalRewriteMinSize = v } },
    };

    /// <summary>The console log's threshold: not a server option, since an embedding application brings its own logger.</summary>
    private static readonly OptionTable<LogLevel> Logging = new(LogLevel.Information)
    {
        { "--log-level", "LEVEL", "least severe messages logged to standard error: trace, debug, information, warning, error, critical, none",
            Word, Level, (_, v) => v, Words<LogLevel>() },
    };

    /// <summary>The <c>serve</c> command.</summary>
    public static Command Create()
    {
        var command = new NotedCommand("serve", "Runs the EventLoop server until SIGINT or SIGTERM, which stop it gracefully.", Syntax)
            .WithOptions(Options).WithOptions(Logging);
        command.SetAction(Run);
        return command;
    }

    private static int Run(ParseResult parsed)
    {
        ServerOptions options = Options.Bind(parsed);
        try
        {
            options.Validate();
        }
        catch (ArgumentException invalid)
        {
            return EventLoopCommandLine.Refuse(parsed, invalid.Message);
        }
        using ILoggerFactory logging = ConsoleLogging.Create(Logging.Bind(parsed));
        return Serve(options with { LoggerFactory = logging }, parsed.InvocationConfiguration.Output, parsed.InvocationConfiguration.Error);
    }

    private static LogLevel Level(string value) =>
        Enum.TryParse(value, ignoreCase: true, out LogLevel level) && Enum.IsDefined(level) && !int.TryParse(value, out _)
            ? level : throw new FormatException("use trace, debug, information, warning, error, critical or none");

    private static string FirstLine(string path) => File.ReadLines(path).FirstOrDefault() ?? "";

    private static int Serve(ServerOptions options, TextWriter output, TextWriter errors)
    {
        var server = new EventLoopServer(options);
        try
        {
            server.Start();
        }
        catch (Exception failed)
        {
            errors.WriteLine($"eventloop serve: cannot start: {failed.Message}");
            return 1;
        }
        output.WriteLine($"eventloop {Commands.InfoCommand.Version} listening on {server.EndPoint} " +
                          $"(backend {server.Backend}, {options.Workers} worker(s), pid {Environment.ProcessId})");
        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, StopOnSignal);
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, StopOnSignal);
        try
        {
            server.Completion.GetAwaiter().GetResult();
            server.StopAsync().GetAwaiter().GetResult();
        }
        catch (Exception failed)
        {
            errors.WriteLine($"eventloop serve: stopped on error: {failed.Message}");
            return 1;
        }
        output.WriteLine("eventloop: stopped");
        return 0;

        void StopOnSignal(PosixSignalContext signal)
        {
            signal.Cancel = true; // we exit ourselves once accepted work is finished
            output.WriteLine($"eventloop: {signal.Signal} received, finishing accepted tasks");
            _ = server.StopAsync();
        }
    }
}
