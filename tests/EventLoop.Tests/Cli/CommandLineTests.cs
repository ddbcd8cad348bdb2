using EventLoop.Cli.CommandLine;
using EventLoop.Cli.Serve;

namespace EventLoop.Tests.Cli;

public class CommandLineTests
{
    private static (int Code, string Output, string Errors) Run(params string[] args)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        int code = EventLoopCommandLine.Run(args, output, errors, liveProgress: false);
        return (code, output.ToString(), errors.ToString());
    }

    private static ServerOptions Serve(params string[] args) =>
        ServeCommand.Options.Bind(EventLoopCommandLine.Create(liveProgress: false).Parse(["serve", .. args]));

    [Fact]
    public void Serve_help_lists_every_option_with_the_default_from_ServerOptions()
    {
        var (code, output, _) = Run("serve", "--help");
        Assert.Equal(0, code);
        foreach (string option in new[] { "--bind", "--port", "--backend", "--workers", "--ring-capacity", "--max-clients", "--max-inflight",
                     "--max-output-bytes", "--max-arg-bytes", "--max-args", "--max-request-bytes", "--read-budget", "--backlog",
                     "--idle-timeout", "--request-timeout", "--task-timeout", "--shutdown-timeout", "--max-tasks", "--max-result-bytes",
                     "--max-queues", "--max-schedules", "--dead-ttl", "--max-lease-losses", "--requirepass", "--requirepass-file",
                     "--protected-mode", "--log-level", "--http-port", "--http-bind" })
            Assert.Matches($@"{option} <[^>]+> .*\(default [^)]+\)", output);
        Assert.Equal(EventLoopCommandLine.Create(liveProgress: false).Subcommands.Single(c => c.Name == "serve").Options.Count,
            output.Split("(default").Length - 1);
        Assert.Matches(@"--log-level <LEVEL> .*\(default information\)", output);
        Assert.Contains("--port <N> ", output);
        Assert.Matches(@"--max-output-bytes <SIZE> .*\(default 64m\)", output);
        Assert.Matches(@"--request-timeout <TIME> .*\(default 1m\)", output);
        Assert.Matches(@"--dead-ttl <TIME> .*\(default 7d\)", output);
        Assert.Contains("eventloop serve [options]", output);
        Assert.Contains("SIZE is a byte count", output);
    }

    [Fact]
    public void Serve_options_set_their_fields_with_sizes_and_times_and_the_rest_keep_defaults()
    {
        ServerOptions options = Serve("--port", "0", "--max-output-bytes", "64k", "--max-arg-bytes=2m", "--idle-timeout", "1.5",
            "--dead-ttl", "2h", "--protected-mode", "no", "--max-tasks", "10_000", "--journal-wait", "poll");
        Assert.Equal(0, options.Port);
        Assert.Equal(64 * 1024, options.MaxOutputBytes);
        Assert.Equal(2 * 1024 * 1024, options.MaxArgBytes);
        Assert.Equal(TimeSpan.FromSeconds(1.5), options.IdleTimeout);
        Assert.Equal(TimeSpan.FromHours(2), options.DeadTaskTtl);
        Assert.False(options.ProtectedMode);
        Assert.Equal(10_000, options.MaxTasks);
        Assert.Equal(new ServerOptions() with { Port = 0, MaxOutputBytes = 64 * 1024, MaxArgBytes = 2 * 1024 * 1024,
            IdleTimeout = TimeSpan.FromSeconds(1.5), DeadTaskTtl = TimeSpan.FromHours(2), ProtectedMode = false, MaxTasks = 10_000,
            JournalWait = EventLoop.Reactor.JournalWaitMode.Poll }, options);
    }

    [Theory]
    [InlineData("--max-output-bytes", "lots", "eventloop serve: --max-output-bytes 'lots': not a size")]
    [InlineData("--port", "x", "eventloop serve: --port 'x': not a whole number")]
    [InlineData("--idle-timeout", "soon", "eventloop serve: --idle-timeout 'soon': not a time")]
    [InlineData("--protected-mode", "maybe", "eventloop serve: --protected-mode 'maybe': use yes or no")]
    [InlineData("--bogus", "1", "eventloop serve: Unrecognized command or argument '--bogus'")]
    [InlineData("--requirepass-file", "/nonexistent/pass", "eventloop serve: --requirepass-file '/nonexistent/pass': ")]
    [InlineData("--workers", "0", "eventloop serve: Workers must be at least 1")]
    [InlineData("--journal-wait", "spin", "eventloop serve: --journal-wait 'spin': use auto, poll or sleep")]
    [InlineData("--inline-tasks", "maybe", "eventloop serve: --inline-tasks 'maybe': use auto, yes or no")]
    public void Bad_serve_options_exit_2_naming_the_problem(string option, string value, string message)
    {
        var (code, output, errors) = Run("serve", option, value);
        Assert.Equal(2, code);
        Assert.StartsWith(message, errors);
        Assert.Contains("(eventloop serve --help lists the options)", errors);
        Assert.Empty(output);
    }

    [Fact]
    public void A_missing_or_unknown_command_exits_2()
    {
        Assert.Equal(2, Run().Code);
        var (code, _, errors) = Run("bogus");
        Assert.Equal(2, code);
        Assert.StartsWith("eventloop: ", errors);
    }

    [Theory]
    [InlineData("serve --backend io", "io_uring")]
    [InlineData("serve --log-level wa", "warning")]
    [InlineData("load --pipeline-mode b", "batch")]
    [InlineData("plot --chart l", "lines")]
    public void The_suggest_directive_completes_values_from_a_fixed_set(string line, string completion)
    {
        var (code, output, _) = Run($"[suggest:{line.Length}]", line);
        Assert.Equal(0, code);
        Assert.Equal([completion], output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    [Fact]
    public void Version_is_the_servers()
    {
        var (code, output, _) = Run("--version");
        Assert.Equal(0, code);
        Assert.Equal($"eventloop {EventLoop.Commands.InfoCommand.Version}", output.Trim());
    }

    [Fact]
    public void The_suggest_directive_completes_option_names()
    {
        var (code, output, _) = Run("[suggest:13]", "serve --max-c");
        Assert.Equal(0, code);
        Assert.Equal(["--max-clients"], output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }
}
