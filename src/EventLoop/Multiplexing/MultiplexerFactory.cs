namespace EventLoop.Multiplexing;

/// <summary>Creates a multiplexer backend by its <c>--backend</c> name.</summary>
public static class MultiplexerFactory
{
    /// <summary>Backend names, without "auto".</summary>
    public static IReadOnlyList<string> Names { get; } = ["epoll", "epoll-et"];

    /// <summary>Creates the named backend; "auto" is epoll.</summary>
    public static IMultiplexer Create(string backend) => backend switch
    {
        "auto" or "epoll" => new EpollMultiplexer(),
        "epoll-et" => new EpollMultiplexer(edgeTriggered: true),
        _ => throw new ArgumentException($"unknown backend '{backend}': use auto, {string.Join(", ", Names)}"),
    };
}
