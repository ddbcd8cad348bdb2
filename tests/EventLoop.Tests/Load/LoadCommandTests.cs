using System.Text.Json;
using EventLoop.Cli.Load;

namespace EventLoop.Tests.Load;

[Collection(LoadCollection.Name)]
public class LoadCommandTests(RespServerFixture server)
{
    private static (int Code, string Output, string Errors) Run(params string[] args)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        int code = LoadCommand.Run(args, output, errors, liveProgress: false);
        return (code, output.ToString(), errors.ToString());
    }

    [Fact]
    public void Writes_the_summary_and_a_json_file_scripts_can_rely_on()
    {
        string path = Path.Combine(Path.GetTempPath(), $"load-{Guid.NewGuid():N}.json");
        try
        {
            var (code, output, _) = Run("--port", server.Port.ToString(), "-c", "5", "-P", "8", "-n", "3000",
                "--warmup", "0", "--command", "RUN echo {payload}", "--json", path);
            Assert.Equal(0, code);
            using JsonDocument json = JsonDocument.Parse(File.ReadAllText(path));
            JsonElement root = json.RootElement;
            Assert.Equal(3000, root.GetProperty("requests").GetInt64());
            Assert.Equal(0, root.GetProperty("errors").GetInt64());
            foreach (string field in new[] { "duration_s", "throughput_rps", "connections" })
                Assert.True(root.TryGetProperty(field, out _), field);
            foreach (string field in new[] { "p50", "p90", "p99", "p999", "p9999", "max" })
                Assert.True(root.GetProperty("latency_us").TryGetProperty(field, out _), field);
            Assert.False(root.TryGetProperty("latency_uncorrected_us", out _)); // closed loop
            Assert.Contains("3,000 in", output);
            Assert.Contains("errors       0 (", output);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Counts_error_replies_from_a_failing_task()
    {
        var (code, output, _) = Run("--port", server.Port.ToString(), "-c", "2", "-n", "500", "--warmup", "0",
            "--command", "RUN fail boom");
        Assert.Equal(0, code); // error replies are measurements, not a failed run
        Assert.Contains("errors       500 (", output);
        Assert.Contains("error_reply 500", output);
    }

    [Fact]
    public void Exits_1_with_a_clear_message_when_no_connection_can_be_made()
    {
        int port = FaultyRespServer.UnusedPort();
        var (code, _, errors) = Run("--port", port.ToString(), "-c", "3");
        Assert.Equal(1, code);
        Assert.Contains($"could not connect to 127.0.0.1:{port}", errors);
        Assert.Contains("refused", errors);
    }

    [Theory]
    [InlineData("--bogus")]
    [InlineData("-c", "0")]
    [InlineData("-c", "lots")]
    [InlineData("--duration", "soon")]
    [InlineData("--command", "\"unclosed")]
    [InlineData("--threads", "4", "-c", "2")]
    [InlineData("--pipeline-mode", "sliding")]
    public void Exits_2_on_bad_options(params string[] args)
    {
        var (code, _, errors) = Run([.. args, "--port", "1"]);
        Assert.Equal(2, code);
        Assert.StartsWith("eventloop load: ", errors);
    }

    [Fact]
    public void Help_names_every_option_with_its_default()
    {
        var (code, output, _) = Run("--help");
        Assert.Equal(0, code);
        foreach (string option in new[] { "--host", "--port", "--connections", "--idle", "--connect-rate", "--threads", "--backend",
                     "--pipeline", "--pipeline-mode", "--rate", "--command", "--lifecycle", "--task", "--result-timeout", "--payload-bytes", "--keyspace", "--duration", "--requests",
                     "--warmup", "--timeout", "--json", "--plot" })
            Assert.Contains(option, output);
        Assert.Equal(22, output.Split("(default").Length - 1); // one per option but --help
        Assert.Matches(@"--lifecycle .*\(default off\)", output);
    }
}
