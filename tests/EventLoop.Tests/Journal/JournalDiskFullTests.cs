using System.Text.RegularExpressions;
using EventLoop.Tests.Support;

namespace EventLoop.Tests.Journal;

/// <summary>
/// A journal write that fails (the file size limit of <c>ulimit -f</c>, as a full disk would) makes
/// mutating commands answer -MISCONF while reads keep working; once writes succeed again (the limit
/// lifted with prlimit) so do the commands, and nothing acknowledged is lost. The dashboard's changes obey the same
/// rule: 503 with the MISCONF error while writes fail, and once made they are in the journal.
/// </summary>
public sealed class JournalDiskFullTests : IDisposable
{
    // SIGXFSZ ignored: a write past the limit fails with EFBIG instead of killing the process. W^X off: the
    // runtime's double-mapped code pages are a file too, which the limit would refuse.
    private const string SurviveFileSizeLimit = "trap '' XFSZ; export DOTNET_EnableWriteXorExecute=0";

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "eventloop-journal-full-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [InlineData("always")]
    [InlineData("everysec")]
    public async Task AFailedWriteRefusesChangesKeepsReadsAndLosesNothing(string policy)
    {
        (string[] serve, HttpClient dashboard) = Prepare(policy);
        using HttpClient http = dashboard;
        var acknowledged = new List<string>();
        // Soft limit only, so prlimit can lift it without privileges.
        using (CliServer server = await CliServer.StartInShellAsync($"{SurviveFileSizeLimit}; ulimit -S -f 128", serve))
        {
            using var client = new RespPipe(server.Port);
            string payload = new('p', 1000);
            RespError? refused = null;
            for (int i = 0; i < 1000 && refused is null; i++)
            {
                switch (client.Call("SUBMIT", "ext", "QUEUE", "full", "ARGS", payload))
                {
                    case string id: acknowledged.Add(id); break;
                    case RespError error: refused = error; break;
                }
            }
            Assert.NotNull(refused);
            Assert.StartsWith("MISCONF journal write failed: ", refused!.Message);
            Assert.InRange(acknowledged.Count, 50, 200);
            // Reads keep working; changes keep being refused.
            Assert.Equal("PONG", client.Call("PING"));
            Assert.IsType<object?[]>(client.Call("STATUS", acknowledged[0]));
            Assert.Matches("journal_last_write_status:err", (string)client.Call("INFO", "persistence")!);
            Assert.StartsWith("MISCONF", Assert.IsType<RespError>(client.Call("CANCEL", acknowledged[0])).Message);
            using (HttpResponseMessage paused = await Http.HttpKit.Post(http, "api/queues/full/pause"))
            {
                Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, paused.StatusCode);
                Assert.StartsWith("MISCONF journal write failed: ", await paused.Content.ReadAsStringAsync());
            }
            SetFileSizeLimit(server, "unlimited:unlimited");
            object? reply = null;
            for (int i = 0; i < 200 && reply is not string; i++)
            {
                await Task.Delay(25);
                reply = client.Call("SUBMIT", "ext", "QUEUE", "full", "ARGS", "after");
            }
            acknowledged.Add(Assert.IsType<string>(reply));
            Assert.Matches("journal_last_write_status:ok", (string)client.Call("INFO", "persistence")!);
            using (HttpResponseMessage paused = await Http.HttpKit.Post(http, "api/queues/full/pause"))
                Assert.Equal(System.Net.HttpStatusCode.NoContent, paused.StatusCode);
            server.Kill();
        }
        using (CliServer restarted = await CliServer.StartAsync(serve))
        {
            using var client = new RespPipe(restarted.Port);
            foreach (string id in acknowledged)
                Assert.IsType<object?[]>(client.Call("STATUS", id));
            object?[] full = Assert.IsType<object?[]>(Assert.IsType<object?[]>(client.Call("QUEUES")).Single());
            Assert.Equal(("full", 1L), ((string)full[0]!, (long)full[4]!)); // the dashboard's pause, replayed
        }
    }

    /// <summary>
    /// A dashboard change made while the journal is healthy is answered only once its own record is written: with
    /// the file size limit set one byte past the journal's end, that write fails, so the answer is 503 with the
    /// MISCONF error (an answer sent before the write would have been 204). The change stays made and is written by
    /// the retry once the limit is lifted, so it survives a kill.
    /// </summary>
    [Theory]
    [InlineData("always")]
    [InlineData("everysec")]
    public async Task ADashboardChangeWaitsForItsOwnRecordsWrite(string policy)
    {
        (string[] serve, HttpClient dashboard) = Prepare(policy);
        using HttpClient http = dashboard;
        string id;
        using (CliServer server = await CliServer.StartInShellAsync(SurviveFileSizeLimit, serve))
        {
            using var client = new RespPipe(server.Port);
            id = Assert.IsType<string>(client.Call("SUBMIT", "ext", "QUEUE", "held", "ARGS", "x"));
            long end = long.Parse(Regex.Match((string)client.Call("INFO", "persistence")!, @"journal_file_size:(\d+)").Groups[1].Value);
            SetFileSizeLimit(server, $"{end + 1}:unlimited");
            using (HttpResponseMessage paused = await Http.HttpKit.Post(http, "api/queues/held/pause"))
            {
                Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, paused.StatusCode);
                Assert.StartsWith("MISCONF journal write failed: ", await paused.Content.ReadAsStringAsync());
            }
            SetFileSizeLimit(server, "unlimited:unlimited");
            string persistence = "";
            for (int i = 0; i < 200 && !persistence.Contains("journal_last_write_status:ok"); i++)
            {
                await Task.Delay(25);
                persistence = (string)client.Call("INFO", "persistence")!;
            }
            Assert.Contains("journal_last_write_status:ok", persistence);
            Assert.Contains("journal_held_replies:0", persistence);
            server.Kill();
        }
        using (CliServer restarted = await CliServer.StartAsync(serve))
        {
            using var client = new RespPipe(restarted.Port);
            Assert.IsType<object?[]>(client.Call("STATUS", id));
            object?[] held = Assert.IsType<object?[]>(Assert.IsType<object?[]>(client.Call("QUEUES")).Single());
            Assert.Equal(("held", 1L), ((string)held[0]!, (long)held[4]!)); // paused: the retry wrote the change
        }
    }

    /// <summary>The server's arguments (a journal under <paramref name="policy"/>, the dashboard on a free port) and a client of its dashboard.</summary>
    private (string[] Serve, HttpClient Dashboard) Prepare(string policy)
    {
        ExternalProcess.Locate("prlimit");
        int httpPort = Http.HttpKit.FreePort();
        string[] serve = ["--appendonly", "yes", "--dir", _dir, "--appendfsync", policy, "--http-port", $"{httpPort}"];
        return (serve, new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/"), Timeout = Http.HttpKit.Patience });
    }

    private static void SetFileSizeLimit(CliServer server, string softColonHard)
    {
        ExternalProcess.Result set = ExternalProcess.Run("prlimit", ["--pid", server.Pid.ToString(), $"--fsize={softColonHard}"]);
        Assert.True(set.ExitCode == 0, set.Error);
    }
}
