using EventLoop.Buffers;
using EventLoop.Multiplexing;
using EventLoop.Native;
using EventLoop.Timers;

namespace EventLoop.Reactor;

/// <summary>
/// The listening socket: accepts new connections within a budget, admits them to the reactor or refuses
/// them with an error line, and keeps accepting sane when descriptors run out. Owned by the reactor thread.
/// </summary>
internal sealed class ConnectionAcceptor
{
    private static ReadOnlySpan<byte> MaxClientsReply => "-ERR max number of clients reached\r\n"u8;

    private readonly ReactorLoop _reactor;
    private readonly IMultiplexer _multiplexer;
    private readonly TimerHeap _timers;
    private readonly ReactorArrayPool _buffers;
    private readonly DescriptorReserve _descriptorReserve;
    private readonly RefusedConnections _refused;
    private readonly Action<string> _log;
    private int _listenFd;
    private long _nextConnectionId;

    public ConnectionAcceptor(ReactorLoop reactor, int listenFd, IMultiplexer multiplexer, TimerHeap timers, ReactorArrayPool buffers, Action<string> log)
    {
        _reactor = reactor;
        _listenFd = listenFd;
        _multiplexer = multiplexer;
        _timers = timers;
        _buffers = buffers;
        _log = log;
        _descriptorReserve = new DescriptorReserve(reactor.Stats, log);
        _refused = new RefusedConnections(multiplexer);
    }

    /// <summary>The listening descriptor, or -1 once stopped.</summary>
    public int ListenFd => _listenFd;

    /// <summary>Edge-triggered: the last accept budget ran out before EAGAIN, so accept again without an event.</summary>
    public bool AcceptAgain { get; private set; }

    public void AcceptPending()
    {
        if (_listenFd < 0)
            return;
        // Edge-triggered: a budget spent before EAGAIN leaves connections no new edge will announce.
        AcceptAgain = _multiplexer.IsEdgeTriggered;
        ReactorStats stats = _reactor.Stats;
        for (int i = 0; i < _reactor.Options.AcceptBudget; i++)
        {
            int fd = Sockets.Accept(_listenFd);
            stats.AcceptCalls++;
            if (fd < 0)
            {
                int errno = -fd;
                if (errno == Errno.ECONNABORTED || errno == Errno.EINTR)
                    continue;
                AcceptAgain = false;
                if (errno == Errno.EMFILE || errno == Errno.ENFILE)
                {
                    if (!_descriptorReserve.ShedPendingConnections(_listenFd, MaxClientsReply))
                        PauseAccepting(TimeSpan.FromMilliseconds(100));
                }
                else if (errno != Errno.EAGAIN)
                    _log($"accept failed: {Errno.Describe(errno)}");
                return;
            }
            Admit(fd);
        }
    }

    /// <summary>An event for a descriptor that is no connection: a refused one that lingers, or a stale event (ignored).</summary>
    public void HandleRefused(int fd) => _refused.DiscardInput(fd);

    /// <summary>Closes the refused connections done lingering by <paramref name="now"/> (all of them for long.MaxValue).</summary>
    public void CloseRefusedUntil(long now)
    {
        if (_refused.Count > 0)
            _refused.CloseExpired(now);
    }

    /// <summary>Stops watching and closes the listener (a graceful stop).</summary>
    public void StopListening()
    {
        _multiplexer.Unregister(_listenFd);
        CloseListener();
    }

    /// <summary>Closes the listener if it is still open, and the descriptor kept in reserve for it.</summary>
    public void CloseListener()
    {
        if (_listenFd >= 0)
            Sockets.Close(_listenFd);
        _listenFd = -1;
        _descriptorReserve.Dispose();
        AcceptAgain = false;
    }

    /// <summary>Stops watching the listener for <paramref name="pause"/>: the last resort against spinning on EMFILE.</summary>
    private void PauseAccepting(TimeSpan pause)
    {
        _multiplexer.Register(_listenFd, Interest.None);
        _timers.Schedule(pause, () =>
        {
            if (_listenFd >= 0)
                _multiplexer.Register(_listenFd, Interest.Read);
        });
    }

    private void Admit(int fd)
    {
        if (_reactor.Stats.ConnectedClients >= _reactor.Options.MaxClients || _reactor.Stopping)
        {
            Refuse(fd, MaxClientsReply);
            return;
        }
        try
        {
            _multiplexer.Register(fd, Interest.Read);
        }
        catch (MultiplexerException refused)
        {
            _log($"refusing a connection: {refused.Message}");
            Refuse(fd, "-ERR too many connections for the select backend\r\n"u8);
            return;
        }
        Sockets.SetNoDelay(fd);
        _reactor.Track(new Connection(fd, ++_nextConnectionId, _reactor.Now, _buffers, _reactor.ClientMemory) { Authenticated = _reactor.Options.RequirePass is null });
    }

    /// <summary>An error line to a connection that will not be served, then a close that does not destroy it.</summary>
    private void Refuse(int fd, ReadOnlySpan<byte> reply)
    {
        _refused.Refuse(fd, reply, _reactor.Now);
        _reactor.Stats.ConnectionsRejected++;
    }
}
