using System.Diagnostics;
using EventLoop.Multiplexing;
using EventLoop.Native;

namespace EventLoop.Reactor;

/// <summary>
/// Connections refused past <c>--max-clients</c>, kept just long enough for their peer to read the refusal.
/// Closing a socket with unread input makes the kernel send a reset, which can destroy the error line before
/// the peer reads it; so the line is sent, our side shut down, and whatever the peer pipelined is read and
/// dropped until it closes, for at most <see cref="LingerTimeout"/>. Owned by the reactor thread.
/// </summary>
/// <remarks>
/// At most <see cref="MaxLingering"/> at once, so a flood of refused connections cannot hold descriptors
/// without bound: past that, a refused socket gets a best effort instead (send, drop the input that has
/// already arrived, close), and a peer that had pipelined more than that may see a reset.
/// </remarks>
internal sealed class RefusedConnections(IMultiplexer multiplexer)
{
    public const int MaxLingering = 1024;
    private const int ReadsPerEvent = 64;
    private static readonly TimeSpan LingerTimeout = TimeSpan.FromSeconds(1);
    private readonly Dictionary<int, long> _lingerUntil = [];
    private readonly byte[] _discard = new byte[16 * 1024];

    /// <summary>Refused sockets still lingering.</summary>
    public int Count => _lingerUntil.Count;

    /// <summary>
    /// Sends <paramref name="reply"/> and closes <paramref name="fd"/> once its peer has read it, or only
    /// the best effort when the bound is reached or the multiplexer cannot watch this descriptor.
    /// </summary>
    public void Refuse(int fd, ReadOnlySpan<byte> reply, long now)
    {
        if (_lingerUntil.Count >= MaxLingering || !TryWatch(fd))
        {
            Sockets.SendAndClose(fd, reply);
            return;
        }
        Sockets.Send(fd, reply);
        Sockets.ShutdownWrite(fd);
        _lingerUntil[fd] = now + (long)(LingerTimeout.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>Drops what a lingering refused peer sent, closing at its end; nothing when <paramref name="fd"/> is not one of them.</summary>
    public void DiscardInput(int fd)
    {
        if (!_lingerUntil.ContainsKey(fd))
            return;
        for (int reads = 0; reads < ReadsPerEvent; reads++)
        {
            int n = Sockets.Read(fd, _discard);
            if (n == -Errno.EAGAIN)
                return;
            if (n <= 0)
            {
                Forget(fd); // the peer closed (or reset): done
                return;
            }
        }
        // Still sending after a megabyte. Level-triggered, the next wait reports it again; edge-triggered,
        // no new edge may come, and a peer flooding a refused socket has earned the reset.
        if (multiplexer.IsEdgeTriggered)
            Forget(fd);
    }

    /// <summary>Closes the refused sockets whose time is up by <paramref name="now"/> (every one for long.MaxValue).</summary>
    public void CloseExpired(long now)
    {
        foreach ((int fd, long until) in _lingerUntil)
        {
            if (until <= now)
                Forget(fd); // removing the current entry while enumerating is allowed
        }
    }

    /// <summary>False when the multiplexer cannot take <paramref name="fd"/> (select past FD_SETSIZE).</summary>
    private bool TryWatch(int fd)
    {
        try
        {
            multiplexer.Register(fd, Interest.Read);
            return true;
        }
        catch (MultiplexerException)
        {
            return false;
        }
    }

    private void Forget(int fd)
    {
        multiplexer.Unregister(fd);
        Sockets.Close(fd);
        _lingerUntil.Remove(fd);
    }
}
