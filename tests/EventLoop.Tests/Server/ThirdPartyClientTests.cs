using EventLoop.Tests.Support;

namespace EventLoop.Tests.Server;

/// <summary>Real Redis tools talk to the server: redis-cli and redis-benchmark from redis-tools.</summary>
public sealed class ThirdPartyClientTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public Task InitializeAsync()
    {
        _server = new TestServer();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private ExternalProcess.Result Cli(params string[] args) =>
        ExternalProcess.Run("redis-cli", ["-p", _server.Port.ToString(), .. args]);

    [Fact]
    public void Redis_cli_runs_commands_and_tasks()
    {
        Assert.Equal("PONG\n", Cli("PING").Output);
        Assert.Equal("hello\n", Cli("RUN", "echo", "hello").Output);
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n", Cli("RUN", "sha256", "abc").Output);
        // redis-cli prints an error reply followed by a blank line when its output is not a terminal.
        Assert.Equal("ERR task 'fail' failed: oops", Cli("RUN", "fail", "oops").Output.TrimEnd('\n'));
        Assert.Contains("multiplexing_api:epoll", Cli("INFO", "server").Output);
    }

    [Fact]
    public void Redis_cli_interactive_session_starts_cleanly_and_pipes_commands()
    {
        ExternalProcess.Result result = ExternalProcess.Run("redis-cli", ["-p", _server.Port.ToString()], input: "PING\nRUN echo piped\nCLIENT SETNAME cli\nCLIENT GETNAME\n");
        Assert.Equal(0, result.ExitCode);
        Assert.Equal("PONG\npiped\nOK\ncli\n", result.Output);
        Assert.Equal("", result.Error);
    }

    [Fact]
    public void Redis_benchmark_completes_against_the_server()
    {
        ExternalProcess.Result result = ExternalProcess.Run("redis-benchmark",
            ["-p", _server.Port.ToString(), "-t", "ping", "-n", "5000", "-c", "20", "-P", "4", "-q"]);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("PING_INLINE:", result.Output);
        Assert.Contains("PING_MBULK:", result.Output);
        Assert.DoesNotContain("ERR", result.Output + result.Error);
        Assert.DoesNotContain("WARNING", result.Output + result.Error); // e.g. "Could not fetch server CONFIG"
    }
}
