using System.Buffers;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;

namespace EventLoop.Tests.Server;

/// <summary>The README's embedding example, kept compiling and working.</summary>
public sealed class EmbeddingTests
{
    [Fact]
    public async Task The_readme_example_registers_sync_and_async_tasks()
    {
        await using var server = new EventLoopServer(new ServerOptions { Port = 0, LoggerFactory = NullLoggerFactory.Instance });
        server.Tasks.Register("greet", (args, result) => result.Write(Encoding.UTF8.GetBytes($"hello {args.GetString(0)}")));
        server.Tasks.Register("fetch", async (args, result, cancel) =>
        {
            await Task.Delay(100, cancel);
            result.Write("done"u8);
        });
        server.Start();

        using RawConnection client = RawConnection.Open(server.Port);
        Assert.Equal("$9\r\nhello ada\r\n", client.Call("RUN", "greet", "ada"));
        Assert.Equal("$4\r\ndone\r\n", client.Call("RUN", "fetch"));
        Assert.Throws<InvalidOperationException>(() => server.Tasks.Register("late", (_, _) => { }));
        await server.StopAsync();
        Assert.True(server.Completion.IsCompletedSuccessfully);
    }
}
