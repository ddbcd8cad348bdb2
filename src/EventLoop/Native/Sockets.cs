using System.Net;
using System.Net.Sockets;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace EventLoop.Native;

/// <summary>
/// Thin non-blocking socket calls over Tmds.LibC. Results follow one convention:
/// a count or descriptor when ≥ 0, otherwise <c>-errno</c>, so callers branch without a second call.
/// </summary>
internal static unsafe class Sockets
{
    /// <summary>Opens a non-blocking listening socket with SO_REUSEADDR. Throws with the reason on failure.</summary>
    public static int Listen(IPEndPoint endpoint, int backlog)
    {
        int fd = OpenStream(endpoint.AddressFamily);
        try
        {
            SetOption(fd, SOL_SOCKET, SO_REUSEADDR, 1);
            int rc = WithSockaddr(endpoint, (sa, len) => bind(fd, sa, len));
            if (rc != 0)
                throw new SocketException(Errno.Last, $"bind {endpoint}: {Errno.Describe(Errno.Last)}");
            if (listen(fd, backlog) != 0)
                throw new SocketException(Errno.Last, $"listen {endpoint}: {Errno.Describe(Errno.Last)}");
            return fd;
        }
        catch
        {
            close(fd);
            throw;
        }
    }

    /// <summary>Starts a non-blocking connect. Returns the descriptor (connect may still be in progress) or -errno.</summary>
    public static int Connect(IPEndPoint endpoint)
    {
        int fd = socket(endpoint.AddressFamily == AddressFamily.InterNetworkV6 ? AF_INET6 : AF_INET,
            SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -Errno.Last;
        int rc = WithSockaddr(endpoint, (sa, len) => connect(fd, sa, len));
        int errno = rc == 0 ? 0 : Errno.Last;
        if (rc != 0 && errno != Errno.EINPROGRESS)
        {
            close(fd);
            return -errno;
        }
        SetOption(fd, IPPROTO_TCP, TCP_NODELAY, 1);
        return fd;
    }

    /// <summary>accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC: a descriptor, or -errno (-EAGAIN when none is pending).</summary>
    public static int Accept(int listenFd)
    {
        int fd = accept4(listenFd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
        return fd >= 0 ? fd : -Errno.Last;
    }

    /// <summary>read(2): bytes read (0 = peer closed its side), or -errno.</summary>
    public static int Read(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            long n = read(fd, p, buffer.Length);
            return n >= 0 ? (int)n : -Errno.Last;
        }
    }

    /// <summary>send(2) with MSG_NOSIGNAL (a vanished peer is EPIPE, not SIGPIPE): bytes sent, or -errno.</summary>
    public static int Send(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            long n = send(fd, p, data.Length, MSG_NOSIGNAL);
            return n >= 0 ? (int)n : -Errno.Last;
        }
    }

    public static void Close(int fd) => close(fd);

    /// <summary>shutdown(SHUT_WR): the peer reads a FIN after the bytes already sent; reading stays possible.</summary>
    public static void ShutdownWrite(int fd) => shutdown(fd, SHUT_WR);

    /// <summary>
    /// Best-effort last words to a connection that will not be served: send <paramref name="reply"/>,
    /// discard whatever the peer already sent (closing with unread input would send RST, which can destroy
    /// the reply before the peer reads it), then close.
    /// </summary>
    public static void SendAndClose(int fd, ReadOnlySpan<byte> reply)
    {
        Send(fd, reply);
        Span<byte> discard = stackalloc byte[512];
        for (int i = 0; i < 8 && Read(fd, discard) > 0; i++)
        {
        }
        close(fd);
    }

    public static void SetNoDelay(int fd) => SetOption(fd, IPPROTO_TCP, TCP_NODELAY, 1);

    /// <summary>The pending socket error (SO_ERROR): 0 once a non-blocking connect succeeded.</summary>
    public static int PendingError(int fd)
    {
        int value = 0;
        socklen_t len = sizeof(int);
        return getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &len) == 0 ? value : Errno.Last;
    }

    /// <summary>The port a socket is bound to (for servers started on port 0).</summary>
    public static int LocalPort(int fd)
    {
        sockaddr_storage storage = default;
        socklen_t len = sizeof(sockaddr_storage);
        if (getsockname(fd, (sockaddr*)&storage, &len) != 0)
            throw new SocketException(Errno.Last);
        ushort networkPort = ((sockaddr_in*)&storage)->sin_port; // same offset for sockaddr_in6
        return (ushort)IPAddress.NetworkToHostOrder((short)networkPort);
    }

    private static int OpenStream(AddressFamily family)
    {
        int fd = socket(family == AddressFamily.InterNetworkV6 ? AF_INET6 : AF_INET,
            SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            throw new SocketException(Errno.Last, $"socket: {Errno.Describe(Errno.Last)}");
        return fd;
    }

    private static void SetOption(int fd, int level, int name, int value) =>
        setsockopt(fd, level, name, &value, sizeof(int));

    private delegate int SockaddrCall(sockaddr* address, socklen_t length);

    private static int WithSockaddr(IPEndPoint endpoint, SockaddrCall call)
    {
        SocketAddress address = endpoint.Serialize();
        Span<byte> raw = stackalloc byte[address.Size];
        address.Buffer.Span[..address.Size].CopyTo(raw);
        fixed (byte* p = raw)
            return call((sockaddr*)p, (uint)raw.Length);
    }
}

/// <summary>An eventfd used to wake a thread blocked in <see cref="Multiplexing.IMultiplexer.Wait"/>.</summary>
internal static unsafe class EventFd
{
    public static int Create()
    {
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0)
            throw new InvalidOperationException($"eventfd: {Errno.Describe(Errno.Last)}");
        return fd;
    }

    /// <summary>Adds one to the counter, making the descriptor readable. Safe from any thread.</summary>
    public static void Signal(int fd)
    {
        ulong one = 1;
        write(fd, &one, sizeof(ulong));
    }

    /// <summary>Resets the counter so the descriptor is no longer readable.</summary>
    public static void Drain(int fd)
    {
        ulong value;
        read(fd, &value, sizeof(ulong));
    }
}
