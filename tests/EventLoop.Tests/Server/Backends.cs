using EventLoop.Multiplexing;

namespace EventLoop.Tests.Server;

/// <summary>The multiplexer backends by name, for server theories that must hold whichever one runs.</summary>
public static class Backends
{
    /// <summary>
    /// Every name in <see cref="MultiplexerFactory.Names"/>. A backend this machine lacks is not left
    /// out: starting its server throws, so its cases fail with the reason instead of being skipped.
    /// </summary>
    public static TheoryData<string> All => new(MultiplexerFactory.Names);
}
