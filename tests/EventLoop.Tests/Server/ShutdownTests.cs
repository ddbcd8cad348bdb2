using System.Diagnostics;
using System.Text.RegularExpressions;
using EventLoop.Tests.Support;

namespace EventLoop.Tests.Server;

/// <summary>Stopping finishes accepted work, flushes its replies, then closes.</summary>
public sealed class ShutdownTests
{
    [Fact]
    public async Task Stopping_under_load_finishes_accepted_tasks_and_flushes_their_replies()
    {
        var server = new TestServer();
        var clients = Enumerable.Range(0, 10).Select(_ => server.Connect()).ToList();
        try
        {
            foreach (RawConnection client in clients)
            {
                client.Send([.. Enumerable.Range(0, 5).SelectMany(_ => RawConnection.Encode("RUN", "sleep", "200")),
                             .. RawConnection.Encode("PING")]);
            }
            clients[0].ReadReply(); // the first batch is running: everything was accepted
            Task stopping = server.Server.StopAsync();
            Assert.Equal(string.Concat(Enumerable.Repeat("$2\r\nOK\r\n", 4)) + "+PONG\r\n", clients[0].ReadToClose());
            foreach (RawConnection client in clients.Skip(1))
                Assert.Equal(string.Concat(Enumerable.Repeat("$2\r\nOK\r\n", 5)) + "+PONG\r\n", client.ReadToClose());
            await stopping.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Throws<System.Net.Sockets.SocketException>(() => RawConnection.Open(server.Port));
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Sigterm_stops_the_cli_server_gracefully_with_exit_code_0()
    {
        var start = new ProcessStartInfo(ExternalProcess.EventLoopProgram(), ["serve", "--port", "0"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process server = Process.Start(start)!;
        try
        {
            string? banner = await server.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Match port = Regex.Match(banner ?? "", @"listening on 127\.0\.0\.1:(\d+)");
            Assert.True(port.Success, $"unexpected banner: {banner}");
            using RawConnection client = RawConnection.Open(int.Parse(port.Groups[1].Value));
            client.Send([.. RawConnection.Encode("RUN", "sleep", "300"), .. RawConnection.Encode("PING")]);
            await Task.Delay(100);
            Process.Start("kill", ["-TERM", server.Id.ToString()])!.WaitForExit();
            Assert.Equal("$2\r\nOK\r\n+PONG\r\n", client.ReadToClose());
            Assert.True(server.WaitForExit(10_000), "the server did not exit after SIGTERM");
            Assert.Equal(0, server.ExitCode);
        }
        finally
        {
            if (!server.HasExited)
                server.Kill();
        }
    }
}
