using System.Collections.Concurrent;
using EventLoop.Multiplexing;
using EventLoop.Reactor;
using EventLoop.Tasks;

namespace EventLoop.Tests.Server;

/// <summary>
/// A reactor with the built-in tasks whose backend sits behind a <see cref="GatedMultiplexer"/>, for tests
/// that need several things to be ready in one wait. Built from the reactor directly, since the public
/// server creates its multiplexer itself.
/// </summary>
internal sealed class GatedServer : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _log = new();

    public GatedServer(string backend, ServerOptions? options = null)
    {
        Gate = new GatedMultiplexer(MultiplexerFactory.Create(backend));
        ServerOptions effective = (options ?? new ServerOptions()) with { Port = 0, Backend = backend };
        Reactor = new ReactorLoop(effective, new TaskRegistry().AddBuiltInTasks(), Gate, _log.Enqueue);
        Reactor.Start();
    }

    public GatedMultiplexer Gate { get; }

    public ReactorLoop Reactor { get; }

    public int Port => Reactor.Port;

    public IReadOnlyCollection<string> Log => _log;

    public RawConnection Connect() => RawConnection.Open(Port);

    /// <summary>
    /// Holds the reactor at its next wait. <paramref name="nudge"/>'s PING gives it a reason to get there
    /// at once; its answer comes before or after the release, so read it later.
    /// </summary>
    public void HoldAtNextWait(RawConnection nudge)
    {
        Gate.Hold();
        nudge.SendCommand("PING");
        Gate.WaitUntilHeld();
    }

    public async ValueTask DisposeAsync()
    {
        Gate.Open(); // should a failed test have left it closed
        Reactor.RequestStop();
        await Reactor.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        Reactor.Dispose();
    }
}
