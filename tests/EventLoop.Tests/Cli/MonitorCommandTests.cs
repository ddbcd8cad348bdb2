using EventLoop.Cli.CommandLine;
using EventLoop.Cli.Monitor;
using EventLoop.Tests.Load;
using EventLoop.Tests.Server;

namespace EventLoop.Tests.Cli;

public class MonitorCommandTests
{
    private static (int Code, string Output, string Errors) Run(params string[] args)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        int code = EventLoopCommandLine.Run(args, output, errors, liveProgress: false);
        return (code, output.ToString(), errors.ToString());
    }

    [Fact]
    public async Task Info_prints_every_section_as_a_heading_with_aligned_fields()
    {
        await using var server = new TestServer();
        var (code, output, errors) = Run("info", "--port", server.Port.ToString());
        Assert.True(code == 0, errors);
        string[] lines = output.Split('\n');
        foreach (string heading in new[] { "Server", "Clients", "Stats", "Reactor", "Queue", "Workers", "Tasks", "Memory" })
            Assert.Contains(heading, lines);
        string[] fields = [.. lines.Where(l => l.StartsWith("  ", StringComparison.Ordinal))];
        Assert.Contains(fields, l => l.TrimStart().StartsWith("connected_clients ", StringComparison.Ordinal) && l.TrimEnd().EndsWith(" 1", StringComparison.Ordinal));
        Assert.Single(fields.Select(ValueColumn).Distinct()); // every value starts in the same column

        static int ValueColumn(string line)
        {
            int keyEnd = line.IndexOf(' ', 2);
            return keyEnd + line[keyEnd..].TakeWhile(c => c == ' ').Count();
        }
    }

    [Fact]
    public async Task Info_with_a_section_prints_that_section_only()
    {
        await using var server = new TestServer();
        var (code, output, _) = Run("info", "--port", server.Port.ToString(), "memory");
        Assert.Equal(0, code);
        Assert.StartsWith("Memory\n", output);
        Assert.DoesNotContain("Server", output);
        Assert.Matches(@"used_memory_rss +\d+ \(\d+\.\d MiB\)", output);
    }

    [Fact]
    public async Task Stat_prints_a_header_then_one_line_per_interval_with_ops_per_second_from_the_command_count()
    {
        await using var server = new TestServer();
        var (code, output, errors) = Run("stat", "--port", server.Port.ToString(), "--interval", "50ms", "--count", "3");
        Assert.True(code == 0, errors);
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.Equal(["clients", "ops/s", "commands", "ring", "running", "timeouts", "queued", "q-running", "failed"], lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("1", lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0]); // stat's own connection
        Assert.Equal("-", lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]); // no rate before a second sample
        Assert.Matches(@"^\d[\d,]*$", lines[2].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]); // each INFO is a command
    }

    [Fact]
    public async Task Stat_reads_the_queueing_section_by_name_and_skips_fields_it_lacks()
    {
        string[] replies =
        [
            "# Clients\r\nconnected_clients:3\r\n# Stats\r\ntotal_commands_processed:100\r\n# Queueing\r\ntasks_queued:7\r\nfailed:2\r\n",
            "# Clients\r\nconnected_clients:4\r\n# Stats\r\ntotal_commands_processed:100\r\n# Queueing\r\ntasks_queued:5\r\nfailed:3\r\n",
        ];
        int next = 0;
        var output = new StringWriter();
        await StatCommand.WatchAsync(new MonitorOptions { Interval = TimeSpan.FromMilliseconds(10), Count = 2 },
            () => Task.FromResult(replies[next++]), output);
        string[][] rows = [.. output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))];
        Assert.Equal(["clients", "ops/s", "commands", "queued", "failed"], rows[0]);
        Assert.Equal(["3", "-", "100", "7", "2"], rows[1]);
        Assert.Equal(["4", "0", "100", "5", "3"], rows[2]);
    }

    [Fact]
    public void Info_exits_1_naming_the_server_it_cannot_reach()
    {
        int port = FaultyRespServer.UnusedPort();
        var (code, _, errors) = Run("info", "--port", port.ToString());
        Assert.Equal(1, code);
        Assert.StartsWith($"eventloop info: could not connect to 127.0.0.1:{port}", errors);
    }

    [Theory]
    [InlineData("stat", "--interval", "soon")]
    [InlineData("stat", "--count", "0")]
    [InlineData("info", "--port", "70000")]
    public void Bad_options_exit_2(params string[] args)
    {
        var (code, _, errors) = Run(args);
        Assert.Equal(2, code);
        Assert.StartsWith($"eventloop {args[0]}: ", errors);
    }
}
