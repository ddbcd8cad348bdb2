using EventLoop.Tests.Support;

namespace EventLoop.Tests.Server;

/// <summary>An in-process server on a free loopback port, with its log captured for assertions.</summary>
public sealed class TestServer : IAsyncDisposable
{
    private readonly LogCapture _log = new();

    public TestServer(ServerOptions? options = null, Action<EventLoopServer>? registerTasks = null)
    {
        ServerOptions effective = (options ?? new ServerOptions()) with { Port = 0, LoggerFactory = _log };
        Server = new EventLoopServer(effective);
        registerTasks?.Invoke(Server);
        Server.Start();
    }

    public EventLoopServer Server { get; }

    public int Port => Server.Port;

    /// <summary>The server's log messages, in order.</summary>
    public IReadOnlyCollection<string> Log => _log.Messages;

    /// <summary>The server's log entries with their categories and levels.</summary>
    public LogCapture Logging => _log;

    public RawConnection Connect() => RawConnection.Open(Port);

    public async ValueTask DisposeAsync()
    {
        Task stop = Server.StopAsync();
        if (await Task.WhenAny(stop, Task.Delay(TimeSpan.FromSeconds(30))) != stop)
            throw new TimeoutException("the server did not stop within 30 s");
        await stop;
    }
}
