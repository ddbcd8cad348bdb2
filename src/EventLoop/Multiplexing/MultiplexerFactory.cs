namespace EventLoop.Multiplexing;

/// <summary>Creates a multiplexer backend from its <c>--backend</c> name.</summary>
public static class MultiplexerFactory
{
    /// <summary>Every backend name, in the order the documentation lists them ("auto" excluded: it means epoll).</summary>
    public static IReadOnlyList<string> Names { get; } = ["epoll", "epoll-et", "poll", "select", "io_uring"];

    /// <summary>Creates the backend named <paramref name="backend"/>: "auto" (epoll), "epoll", "epoll-et", "poll", "select" or "io_uring".</summary>
    /// <exception cref="ArgumentException">The name is none of those.</exception>
    /// <exception cref="MultiplexerException">The backend cannot run here (io_uring disabled, libel_select.so not built).</exception>
    public static IMultiplexer Create(string backend) => backend switch
    {
        "auto" or "epoll" => new EpollMultiplexer(),
        "epoll-et" => new EpollMultiplexer(edgeTriggered: true),
        "poll" => new PollMultiplexer(),
        "select" => new SelectMultiplexer(),
        "io_uring" => new IoUringMultiplexer(),
        _ => throw new ArgumentException($"unknown backend '{backend}': use auto, {string.Join(", ", Names)}", nameof(backend)),
    };
}
