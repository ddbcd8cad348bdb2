using EventLoop.Client;
using Microsoft.Extensions.Logging.Abstractions;

namespace EventLoop.Tests.Load;

/// <summary>
/// A real RESP server on loopback for the client and load tests: an in-process EventLoopServer
/// (built-in tasks on, a free port), shared by the tests of the collection.
/// </summary>
public sealed class RespServerFixture : IAsyncLifetime
{
    private EventLoopServer? _server;

    public int Port => _server?.Port ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync()
    {
        _server = new EventLoopServer(new ServerOptions { Port = 0, LoggerFactory = NullLoggerFactory.Instance });
        _server.Start();
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", Port);
        await client.PingAsync();
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
            await _server.DisposeAsync();
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LoadCollection : ICollectionFixture<RespServerFixture>
{
    /// <summary>Load tests run one at a time and alone: they measure time and rates.</summary>
    public const string Name = "load";
}
