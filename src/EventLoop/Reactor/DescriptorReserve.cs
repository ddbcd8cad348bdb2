using System.Diagnostics;
using EventLoop.Native;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace EventLoop.Reactor;

/// <summary>
/// One descriptor held in reserve for the moment the process runs out of them. When accept fails with
/// EMFILE/ENFILE the connection stays in the listen queue and a level-triggered listening socket stays
/// readable: without a way to take it off the queue the loop would spin at full CPU. Freeing the
/// reserve makes room to accept each waiting connection, tell it the server is full, and close it.
/// Owned by the reactor thread.
/// </summary>
internal sealed unsafe class DescriptorReserve(ReactorStats stats, Action<string> log) : IDisposable
{
    private static readonly long LogInterval = 10 * Stopwatch.Frequency;
    private int _fd = OpenReserve();
    private long _lastLogAt = -LogInterval;
    private long _shedSinceLog;

    /// <summary>
    /// Accepts and closes, with <paramref name="reply"/>, the connections waiting on <paramref name="listenFd"/>.
    /// Returns false when the queue could not be emptied for lack of a descriptor (the reserve could not be
    /// reopened): the caller must then stop watching the listener for a while instead of spinning on it.
    /// </summary>
    public bool ShedPendingConnections(int listenFd, ReadOnlySpan<byte> reply)
    {
        stats.DescriptorExhaustions++;
        int shed = 0;
        int error = 0;
        while (shed < 1000)
        {
            if (_fd >= 0)
            {
                close(_fd);
                _fd = -1;
            }
            int fd = Sockets.Accept(listenFd);
            if (fd < 0)
            {
                error = -fd; // EAGAIN: the queue is empty; EMFILE: no reserve, or its slot was taken elsewhere
                break;
            }
            Sockets.SendAndClose(fd, reply);
            stats.ConnectionsRejected++;
            shed++;
        }
        _fd = OpenReserve();
        _shedSinceLog += shed;
        long now = Stopwatch.GetTimestamp();
        if (now - _lastLogAt >= LogInterval)
        {
            log($"out of file descriptors (EMFILE/ENFILE): refused {_shedSinceLog} connection(s) in the last interval; " +
                $"{stats.ConnectedClients} connected. Raise the open-file limit or lower --max-clients.");
            _lastLogAt = now;
            _shedSinceLog = 0;
        }
        return error is not (Errno.EMFILE or Errno.ENFILE);
    }

    /// <summary>Gives the reserve back: the listener it served is closed.</summary>
    public void Dispose()
    {
        if (_fd >= 0)
            close(_fd);
        _fd = -1;
    }

    private static int OpenReserve()
    {
        fixed (byte* path = "/dev/null\0"u8)
            return open(path, O_RDONLY | O_CLOEXEC);
    }
}
