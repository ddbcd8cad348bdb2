using System.Globalization;
using System.Runtime.InteropServices;
using EventLoop.Journal;

namespace EventLoop.Cli.Serve;

/// <summary><c>eventloop serve</c>: runs the server until SIGINT or SIGTERM, then stops gracefully.</summary>
internal static class ServeCommand
{
    private sealed record Option(string Name, string Value, string Help, Func<ServerOptions, string> Default, Func<ServerOptions, string, ServerOptions> Apply);

    private static readonly Option[] Options =
    [
        new("--bind", "ADDRESS", "address to listen on", o => o.BindAddress, (o, v) => o with { BindAddress = v }),
        new("--port", "N", "TCP port (0: any free port)", o => Str(o.Port), (o, v) => o with { Port = Int(v) }),
        new("--backend", "NAME", "multiplexer: auto, epoll, epoll-et, poll, select, io_uring", o => o.Backend, (o, v) => o with { Backend = v }),
        new("--workers", "N", "worker threads running tasks", o => Str(o.Workers), (o, v) => o with { Workers = Int(v) }),
        new("--ring-capacity", "N", "slots in the reactor-to-workers ring (power of two)", o => Str(o.RingCapacity), (o, v) => o with { RingCapacity = Int(v) }),
        new("--max-clients", "N", "connections served at once", o => Str(o.MaxClients), (o, v) => o with { MaxClients = Int(v) }),
        new("--max-inflight", "N", "requests in flight per connection before reading pauses", o => Str(o.MaxInflight), (o, v) => o with { MaxInflight = Int(v) }),
        new("--max-output-bytes", "SIZE", "unsent reply bytes per connection before disconnecting it", o => Str(o.MaxOutputBytes), (o, v) => o with { MaxOutputBytes = Bytes(v) }),
        new("--max-arg-bytes", "SIZE", "largest argument accepted", o => Str(o.MaxArgBytes), (o, v) => o with { MaxArgBytes = checked((int)Bytes(v)) }),
        new("--max-args", "N", "most arguments in one request", o => Str(o.MaxArgs), (o, v) => o with { MaxArgs = Int(v) }),
        new("--max-request-bytes", "SIZE", "largest incomplete request buffered per connection", o => Str(o.MaxRequestBytes), (o, v) => o with { MaxRequestBytes = Bytes(v) }),
        new("--read-budget", "N", "reads per connection per readiness event", o => Str(o.ReadBudget), (o, v) => o with { ReadBudget = Int(v) }),
        new("--backlog", "N", "listen(2) backlog", o => Str(o.Backlog), (o, v) => o with { Backlog = Int(v) }),
        new("--idle-timeout", "SECONDS", "close connections idle this long (0: never)", o => Str(o.IdleTimeout.TotalSeconds), (o, v) => o with { IdleTimeout = Seconds(v) }),
        new("--request-timeout", "SECONDS", "close a connection whose request stays incomplete this long (0: never)", o => Str(o.RequestTimeout.TotalSeconds), (o, v) => o with { RequestTimeout = Seconds(v) }),
        new("--task-timeout", "SECONDS", "answer 'timed out' for tasks running longer, replacing stuck workers (0: never)", o => Str(o.TaskTimeout.TotalSeconds), (o, v) => o with { TaskTimeout = Seconds(v) }),
        new("--shutdown-timeout", "SECONDS", "how long SIGTERM waits for accepted tasks", o => Str(o.ShutdownTimeout.TotalSeconds), (o, v) => o with { ShutdownTimeout = Seconds(v) }),
        new("--max-tasks", "N", "tasks the queue keeps, finished ones included, before SUBMIT answers -FULL", o => Str(o.MaxTasks), (o, v) => o with { MaxTasks = Int(v) }),
        new("--max-result-bytes", "SIZE", "largest task result kept (a larger one fails the attempt)", o => Str(o.MaxResultBytes), (o, v) => o with { MaxResultBytes = checked((int)Bytes(v)) }),
        new("--max-queues", "N", "distinct queue names", o => Str(o.MaxQueues), (o, v) => o with { MaxQueues = Int(v) }),
        new("--max-schedules", "N", "periodic schedules kept", o => Str(o.MaxSchedules), (o, v) => o with { MaxSchedules = Int(v) }),
        new("--dead-ttl", "SECONDS", "how long a failed task stays in the dead set", o => Str(o.DeadTaskTtl.TotalSeconds), (o, v) => o with { DeadTaskTtl = Seconds(v) }),
        new("--max-lease-losses", "N", "lost leases in a row before a task fails", o => Str(o.MaxLeaseLosses), (o, v) => o with { MaxLeaseLosses = Int(v) }),
        new("--max-unauth-args", "N", "most arguments in a request before AUTH (with --requirepass)", o => Str(o.MaxUnauthenticatedArgs), (o, v) => o with { MaxUnauthenticatedArgs = Int(v) }),
        new("--max-unauth-arg-bytes", "SIZE", "largest argument or inline request before AUTH (with --requirepass)", o => Str(o.MaxUnauthenticatedBulkBytes), (o, v) => o with { MaxUnauthenticatedBulkBytes = checked((int)Bytes(v)) }),
        new("--requirepass", "PASSWORD", "clients must AUTH with this password", o => o.RequirePass is null ? "none" : "set", (o, v) => o with { RequirePass = v }),
        new("--requirepass-file", "PATH", "read the password from the first line of a file (keeps it out of ps)", _ => "none", (o, v) => o with { RequirePass = File.ReadLines(v).FirstOrDefault() ?? "" }),
        new("--protected-mode", "yes|no", "refuse non-loopback addresses without a password", o => o.ProtectedMode ? "yes" : "no", (o, v) => o with { ProtectedMode = YesNo(v) }),
        new("--appendonly", "yes|no", "keep a journal of the task queue and replay it at start", o => o.AppendOnly ? "yes" : "no", (o, v) => o with { AppendOnly = YesNo(v) }),
        new("--dir", "PATH", "directory of the journal", o => o.Dir, (o, v) => o with { Dir = v }),
        new("--appendfsync", "always|everysec|no", "fsync the journal per batch (replies wait for it), about once a second, or never", o => o.AppendFsync switch { FsyncPolicy.Always => "always", FsyncPolicy.EverySecond => "everysec", _ => "no" }, (o, v) => o with { AppendFsync = v switch { "always" => FsyncPolicy.Always, "everysec" => FsyncPolicy.EverySecond, "no" => FsyncPolicy.No, _ => throw new FormatException($"expected always, everysec or no, got '{v}'") } }),
        new("--journal-repair", "yes|no", "start even if the journal is damaged before its end, skipping the damage", o => o.JournalRepair ? "yes" : "no", (o, v) => o with { JournalRepair = YesNo(v) }),
        new("--journal-rewrite-percentage", "N", "rewrite the journal once it grew N% over its last rewritten size (0: never by itself)", o => Str(o.JournalRewritePercentage), (o, v) => o with { JournalRewritePercentage = Int(v) }),
        new("--journal-rewrite-min-size", "SIZE", "no automatic rewrite below this journal size", o => Str(o.JournalRewriteMinSize), (o, v) => o with { JournalRewriteMinSize = Bytes(v) }),
    ];

    public static int Run(string[] args)
    {
        ServerOptions options;
        try
        {
            if (args.Any(a => a is "-h" or "--help"))
            {
                PrintHelp();
                return 0;
            }
            options = Parse(args);
            options.Validate();
        }
        catch (Exception invalid) when (invalid is ArgumentException or FormatException or OverflowException or IOException)
        {
            Console.Error.WriteLine($"eventloop serve: {invalid.Message} (see eventloop serve --help)");
            return 2;
        }
        return Serve(options);
    }

    private static int Serve(ServerOptions options)
    {
        var server = new EventLoopServer(options);
        try
        {
            server.Start();
        }
        catch (Exception failed)
        {
            Console.Error.WriteLine($"eventloop serve: cannot start: {failed.Message}");
            return 1;
        }
        Console.WriteLine($"eventloop {Commands.InfoCommand.Version} listening on {server.EndPoint} " +
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
            Console.Error.WriteLine($"eventloop serve: stopped on error: {failed.Message}");
            return 1;
        }
        Console.WriteLine("eventloop: stopped");
        return 0;

        void StopOnSignal(PosixSignalContext signal)
        {
            signal.Cancel = true; // we exit ourselves once accepted work is finished
            Console.WriteLine($"eventloop: {signal.Signal} received, finishing accepted tasks");
            _ = server.StopAsync();
        }
    }

    private static ServerOptions Parse(string[] args)
    {
        var options = new ServerOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string name = args[i];
            string? inlineValue = null;
            int equals = name.IndexOf('=');
            if (equals > 0)
            {
                inlineValue = name[(equals + 1)..];
                name = name[..equals];
            }
            Option option = Options.FirstOrDefault(o => o.Name == name)
                ?? throw new ArgumentException($"unknown option '{name}'");
            string value = inlineValue ?? (i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value"));
            options = option.Apply(options, value);
        }
        return options;
    }

    private static void PrintHelp()
    {
        var defaults = new ServerOptions();
        Console.WriteLine("usage: eventloop serve [options]\n\nRuns the EventLoop server until SIGINT or SIGTERM, which stop it gracefully.\n\noptions (default in brackets):");
        foreach (Option option in Options)
            Console.WriteLine($"  {option.Name + " " + option.Value,-28} {option.Help} [{option.Default(defaults)}]");
        Console.WriteLine("\nSIZE accepts a plain byte count or a k/m/g suffix (powers of 1024).");
    }

    private static string Str(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Str(double value) => value.ToString(CultureInfo.InvariantCulture);

    private static bool YesNo(string value) => value switch
    {
        "yes" => true,
        "no" => false,
        _ => throw new FormatException($"expected yes or no, got '{value}'"),
    };

    private static int Int(string value) => int.Parse(value, NumberStyles.Integer, CultureInfo.InvariantCulture);

    private static TimeSpan Seconds(string value) => TimeSpan.FromSeconds(double.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture));

    private static long Bytes(string value)
    {
        string text = value.Trim().ToLowerInvariant().TrimEnd('b');
        long multiplier = text.EndsWith('k') ? 1L << 10 : text.EndsWith('m') ? 1L << 20 : text.EndsWith('g') ? 1L << 30 : 1;
        if (multiplier != 1)
            text = text[..^1];
        return checked(long.Parse(text, NumberStyles.Integer, CultureInfo.InvariantCulture) * multiplier);
    }
}
