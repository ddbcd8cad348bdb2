using System.Collections.Concurrent;

namespace EventLoop.Tests.Server;

/// <summary>An in-process server on a free loopback port, with its log captured for assertions.</summary>
public sealed class TestServer : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _log = new();

    public TestServer(ServerOptions? options = null, Action<EventLoopServer>? registerTasks = null)
    {
        ServerOptions effective = (options ?? new ServerOptions()) with { Port = 0, Log = _log.Enqueue };
        Server = new EventLoopServer(effective);
        registerTasks?.Invoke(Server);
        Server.Start();
    }

    public EventLoopServer Server { get; }

    public int Port => Server.Port;

    public IReadOnlyCollection<string> Log => _log;

    public RawConnection Connect() => RawConnection.Open(Port);

    public async ValueTask DisposeAsync()
    {
        Task stop = Server.StopAsync();
        if (await Task.WhenAny(stop, Task.Delay(TimeSpan.FromSeconds(30))) != stop)
            throw new TimeoutException("the server did not stop within 30 s");
        await stop;
    }
}
