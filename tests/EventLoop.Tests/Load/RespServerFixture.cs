using System.Diagnostics;
using System.Net.Sockets;
using EventLoop.Client;

namespace EventLoop.Tests.Load;

/// <summary>
/// A real RESP server on loopback for the client and load tests: redis-server started as a child
/// process on a free port, for as long as the test collection runs.
/// </summary>
public sealed class RespServerFixture : IAsyncLifetime
{
    private Process? _process;

    public int Port { get; private set; }

    public async Task InitializeAsync()
    {
        Port = FaultyRespServer.UnusedPort();
        _process = Process.Start(new ProcessStartInfo("redis-server",
            ["--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--maxclients", "10000"])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("could not start redis-server");
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        await WaitUntilAnsweringAsync();
    }

    private async Task WaitUntilAnsweringAsync()
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", Port);
                await client.PingAsync();
                return;
            }
            catch (RespConnectionException) when (attempt < 100)
            {
                await Task.Delay(50);
            }
        }
    }

    public Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit();
        }
        _process?.Dispose();
        return Task.CompletedTask;
    }
}

[CollectionDefinition(Name)]
public sealed class LoadCollection : ICollectionFixture<RespServerFixture>
{
    /// <summary>Load tests run one at a time: they measure time and rates.</summary>
    public const string Name = "load";
}
