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
        ExternalProcess.Locate("prlimit");
        int httpPort = Http.HttpKit.FreePort();
        string[] serve = ["--appendonly", "yes", "--dir", _dir, "--appendfsync", policy, "--http-port", $"{httpPort}"];
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/"), Timeout = Http.HttpKit.Patience };
        var acknowledged = new List<string>();
        // SIGXFSZ ignored: a write past the limit fails with EFBIG instead of killing the process. W^X off: the
        // runtime's double-mapped code pages are a file too, which the limit would refuse. Soft limit only, so
        // prlimit can lift it without privileges.
        using (CliServer server = await CliServer.StartInShellAsync("trap '' XFSZ; export DOTNET_EnableWriteXorExecute=0; ulimit -S -f 128", serve))
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
            ExternalProcess.Result lifted = ExternalProcess.Run("prlimit", ["--pid", server.Pid.ToString(), "--fsize=unlimited:unlimited"]);
            Assert.True(lifted.ExitCode == 0, lifted.Error);
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
}
