using EventLoop.Tests.Support;
using Microsoft.Extensions.Logging;

namespace EventLoop.Tests.Server;

/// <summary>The server logs through Microsoft.Extensions.Logging: an embedding application's factory, by category and level.</summary>
public sealed class LoggingTests
{
    [Fact]
    public async Task An_embedding_application_receives_the_servers_messages_by_category_and_level()
    {
        var server = new TestServer(new ServerOptions { MaxOutputBytes = 64 << 10 }, s => s.Tasks.Register("blob", (args, result) =>
        {
            int size = (int)args.GetInt64(0);
            result.GetSpan(size)[..size].Fill((byte)'x');
            result.Advance(size);
        }));
        LogCapture log = server.Logging;
        await using (server)
        {
            Assert.Contains(("EventLoop.Server", LogLevel.Information, $"listening on 127.0.0.1:{server.Port} (backend epoll, {server.Server.Options.Workers} worker(s))"), log.Entries);
            using RawConnection observer = server.Connect();
            using RawConnection sink = server.Connect(); // asks for 32 MiB of replies below the limit each, and never reads them
            sink.Send([.. Enumerable.Repeat(RawConnection.Encode("RUN", "blob", (32 << 10).ToString()), 1024).SelectMany(r => r)]);
            await FaultTests.WaitUntil(() => observer.Call("INFO", "stats").Contains("output_limit_disconnects:1\r\n"), 30_000);
            Assert.Single(log.Entries, e => e.Category == "EventLoop.Reactor" && e.Level == LogLevel.Warning && e.Message.Contains("exceed max-output-bytes (65536)"));
        }
        Assert.Contains(log.Entries, e => e is ("EventLoop.Reactor", LogLevel.Information, _) && e.Message.StartsWith("stopping: ", StringComparison.Ordinal));
        Assert.Equal(("EventLoop.Server", LogLevel.Information, "stopped"), log.Entries.Last());
    }

    [Fact]
    public async Task Serve_logs_to_standard_error_above_the_log_level()
    {
        using (CliServer chatty = await CliServer.StartAsync())
            await FaultTests.WaitUntil(() => chatty.Log.Any(l => l.Contains(" info: EventLoop.Server listening on 127.0.0.1:")));
        using CliServer quiet = await CliServer.StartAsync("--log-level", "warning");
        using (RawConnection client = RawConnection.Open(quiet.Port))
            Assert.Equal("+PONG\r\n", client.Call("PING"));
        await Task.Delay(300); // the console logger writes from a queue of its own
        Assert.DoesNotContain(quiet.Log, l => l.Contains(" info: "));
    }
}
