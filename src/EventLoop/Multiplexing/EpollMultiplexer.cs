using EventLoop.Native;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace EventLoop.Multiplexing;

/// <summary>
/// epoll(7), level-triggered (the default backend) or edge-triggered (<c>epoll-et</c>).
/// </summary>
/// <remarks>
/// Owned by the thread that waits on it. The kernel keeps the interest set, so a wait costs
/// O(ready) rather than O(watched): the reason epoll stays flat as idle connections grow.
/// Level-triggered is the default because a per-connection read budget is then simply "stop
/// reading": the kernel reports the rest next time (Netty dropped edge-triggered for this reason).
/// </remarks>
public sealed unsafe class EpollMultiplexer : IMultiplexer
{
    private readonly int _epfd;
    private readonly bool _edgeTriggered;
    private epoll_event[] _kernelEvents = new epoll_event[256];
    // Per-descriptor registration state: 0 = not registered, otherwise Interest + 0x80.
    // Lets Register pick ADD or MOD itself and skip redundant epoll_ctl calls.
    private byte[] _registered = new byte[1024];

    /// <summary>Creates an epoll instance.</summary>
    public EpollMultiplexer(bool edgeTriggered = false)
    {
        _edgeTriggered = edgeTriggered;
        _epfd = epoll_create1(EPOLL_CLOEXEC);
        if (_epfd < 0)
            throw new MultiplexerException($"epoll_create1 failed: {Errno.Describe(Errno.Last)}");
    }

    /// <inheritdoc />
    public string Name => _edgeTriggered ? "epoll-et" : "epoll";

    /// <inheritdoc />
    public bool IsEdgeTriggered => _edgeTriggered;

    /// <inheritdoc />
    public long SystemCalls { get; private set; }

    /// <inheritdoc />
    public void Register(int fd, Interest interest)
    {
        if (fd >= _registered.Length)
            Array.Resize(ref _registered, Math.Max(fd + 1, _registered.Length * 2));
        byte state = (byte)(0x80 | (byte)interest);
        byte previous = _registered[fd];
        if (previous == state)
            return;
        epoll_event ev = default;
        ev.events = ToEpoll(interest);
        ev.data.fd = fd;
        int op = previous == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
        SystemCalls++;
        if (epoll_ctl(_epfd, op, fd, &ev) != 0)
            throw new MultiplexerException($"epoll_ctl({(previous == 0 ? "ADD" : "MOD")}, fd {fd}) failed: {Errno.Describe(Errno.Last)}");
        _registered[fd] = state;
    }

    /// <inheritdoc />
    public void Unregister(int fd)
    {
        if (fd >= _registered.Length || _registered[fd] == 0)
            return;
        _registered[fd] = 0;
        epoll_event ev = default;
        SystemCalls++;
        epoll_ctl(_epfd, EPOLL_CTL_DEL, fd, &ev); // EBADF/ENOENT are harmless here: the fd is going away
    }

    /// <inheritdoc />
    public int Wait(Span<ReadyEvent> events, int timeoutMs)
    {
        if (_kernelEvents.Length < events.Length)
            _kernelEvents = new epoll_event[events.Length];
        int n;
        SystemCalls++;
        fixed (epoll_event* buffer = _kernelEvents)
            n = epoll_wait(_epfd, buffer, events.Length, timeoutMs);
        if (n < 0)
        {
            int errno = Errno.Last;
            if (errno == Errno.EINTR)
                return 0;
            throw new MultiplexerException($"epoll_wait failed: {Errno.Describe(errno)}");
        }
        for (int i = 0; i < n; i++)
        {
            ref epoll_event ev = ref _kernelEvents[i];
            int fd = ev.data.fd;
            events[i] = new ReadyEvent(fd, FromEpoll(ev.events, (Interest)(_registered[fd] & 0x3)));
        }
        return n;
    }

    private int ToEpoll(Interest interest)
    {
        int events = 0;
        if ((interest & Interest.Read) != 0) events |= EPOLLIN;
        if ((interest & Interest.Write) != 0) events |= EPOLLOUT;
        if (_edgeTriggered) events |= EPOLLET;
        return events;
    }

    private static Interest FromEpoll(int events, Interest watched)
    {
        Interest ready = Interest.None;
        if ((events & EPOLLIN) != 0) ready |= Interest.Read;
        if ((events & EPOLLOUT) != 0) ready |= Interest.Write;
        // An error or hang-up is delivered through whichever path is watched: the call itself returns it.
        if ((events & (EPOLLERR | EPOLLHUP)) != 0) ready |= watched == Interest.None ? Interest.Read : watched;
        return ready;
    }

    /// <inheritdoc />
    public void Dispose() => close(_epfd);
}
