using EventLoop.Native;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace EventLoop.Multiplexing;

/// <summary>poll(2) over a dense array of <c>pollfd</c> kept in step with the registrations.</summary>
/// <remarks>
/// Owned by the thread that waits on it. Unlike epoll, the kernel keeps nothing between calls:
/// every wait copies the whole array in, checks every descriptor and copies it back, and the
/// result scan walks it again. The cost is O(watched) per wait by nature, however few are active,
/// which is exactly what the benchmarks at 10,000 mostly idle connections show. Unlike select,
/// there is no FD_SETSIZE ceiling. A descriptor registered with <see cref="Interest.None"/> stays in
/// the array with no events: poll still reports an error or hang-up for it, and that is reported
/// as <see cref="Interest.Read"/> as epoll does, so a paused connection whose peer vanished is
/// closed rather than making every wait return at once.
/// </remarks>
public sealed unsafe class PollMultiplexer : IMultiplexer
{
    private pollfd[] _pollFds = new pollfd[64];
    private int _count;
    private int[] _slotOf = new int[1024]; // descriptor → slot + 1 (0 = not registered)
    private int _scanStart; // where the next result scan begins, so a full batch does not starve later slots

    /// <inheritdoc />
    public string Name => "poll";

    /// <inheritdoc />
    public long SystemCalls { get; private set; }

    /// <inheritdoc />
    public bool IsEdgeTriggered => false;

    /// <inheritdoc />
    public void Register(int fd, Interest interest)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fd);
        if (fd >= _slotOf.Length)
            Array.Resize(ref _slotOf, Math.Max(fd + 1, _slotOf.Length * 2));
        int slot = _slotOf[fd] - 1;
        if (slot < 0)
            slot = AddSlot(fd);
        _pollFds[slot].events = ToPollEvents(interest);
    }

    /// <inheritdoc />
    public void Unregister(int fd)
    {
        if ((uint)fd >= (uint)_slotOf.Length || _slotOf[fd] == 0)
            return;
        int slot = _slotOf[fd] - 1;
        int last = --_count;
        // Keep the array dense: the last entry moves into the hole.
        _pollFds[slot] = _pollFds[last];
        _slotOf[_pollFds[slot].fd] = slot + 1;
        _slotOf[fd] = 0;
    }

    /// <inheritdoc />
    public int Wait(Span<ReadyEvent> events, int timeoutMs)
    {
        int readyCount;
        SystemCalls++;
        fixed (pollfd* fds = _pollFds)
            readyCount = poll(fds, (uint)_count, timeoutMs);
        if (readyCount < 0)
        {
            int errno = Errno.Last;
            if (errno == Errno.EINTR)
                return 0;
            throw new MultiplexerException($"poll failed: {Errno.Describe(errno)}");
        }
        return readyCount == 0 ? 0 : Collect(events, readyCount);
    }

    /// <summary>Copies up to <paramref name="events"/>.Length ready slots, starting where the last full batch stopped.</summary>
    private int Collect(Span<ReadyEvent> events, int readyCount)
    {
        int reported = 0, found = 0;
        for (int i = 0; i < _count && found < readyCount; i++)
        {
            int slot = (_scanStart + i) % _count;
            ref pollfd entry = ref _pollFds[slot];
            if (entry.revents == 0)
                continue;
            found++;
            if (reported == events.Length)
            {
                _scanStart = slot;
                return reported;
            }
            events[reported++] = new ReadyEvent(entry.fd, FromPollEvents(entry.revents, InterestOf(entry.events)));
        }
        return reported;
    }

    private int AddSlot(int fd)
    {
        if (_count == _pollFds.Length)
            Array.Resize(ref _pollFds, _pollFds.Length * 2);
        _pollFds[_count] = new pollfd { fd = fd };
        _slotOf[fd] = _count + 1;
        return _count++;
    }

    /// <summary>The poll(2) event mask for an interest (also used by io_uring's POLL_ADD).</summary>
    internal static short ToPollEvents(Interest interest)
    {
        int events = 0;
        if ((interest & Interest.Read) != 0) events |= (ushort)POLLIN;
        if ((interest & Interest.Write) != 0) events |= (ushort)POLLOUT;
        return (short)events;
    }

    /// <summary>
    /// What a returned poll mask means for the owner. An error, hang-up or invalid descriptor is
    /// reported through whichever path is watched (Read when none is): the call itself returns it.
    /// </summary>
    internal static Interest FromPollEvents(int revents, Interest watched)
    {
        Interest ready = Interest.None;
        if ((revents & POLLIN) != 0) ready |= Interest.Read;
        if ((revents & POLLOUT) != 0) ready |= Interest.Write;
        bool failed = (revents & POLLERR) != 0 || (revents & POLLHUP) != 0 || (revents & POLLNVAL) != 0;
        if (failed) ready |= watched == Interest.None ? Interest.Read : watched;
        return ready;
    }

    private static Interest InterestOf(short events) =>
        ((events & POLLIN) != 0 ? Interest.Read : Interest.None) | ((events & POLLOUT) != 0 ? Interest.Write : Interest.None);

    /// <inheritdoc />
    public void Dispose()
    {
        // Nothing to release: poll keeps no kernel object between calls.
    }
}
