using System.Diagnostics;
using EventLoop.Buffers;
using EventLoop.Native;

namespace EventLoop.Reactor;

/// <summary>
/// The output side of every connection: sends what each one accumulated (one send per connection per
/// iteration), enforces the output limit, and ends finished connections with a lingering close. Owned by
/// the reactor thread.
/// </summary>
internal sealed class OutputFlusher(ReactorLoop reactor, Action<string> log)
{
    /// <summary>Longest a finished connection waits for its peer to close (<see cref="Connection.LingerUntil"/>).</summary>
    private static readonly TimeSpan LingerTimeout = TimeSpan.FromSeconds(2);

    private readonly ServerOptions _options = reactor.Options;
    private readonly ReactorStats _stats = reactor.Stats;
    private readonly List<Connection> _flushList = [];
    private readonly List<Connection> _lingering = [];
    private long _lastMemoryReturn = long.MinValue / 2;

    public void ScheduleFlush(Connection connection)
    {
        if (connection.InFlushList)
            return;
        connection.InFlushList = true;
        _flushList.Add(connection);
    }

    /// <summary>Sends what every connection accumulated this iteration: one send per connection.</summary>
    public void FlushPendingWrites()
    {
        for (int i = 0; i < _flushList.Count; i++)
        {
            Connection connection = _flushList[i];
            connection.InFlushList = false;
            if (!connection.Closed && !connection.AwaitingWritable)
                FlushConnection(connection);
        }
        _flushList.Clear();
    }

    public void FlushConnection(Connection connection)
    {
        PooledBuffer output = connection.Output;
        if (output.Length > 0)
        {
            int sent = Sockets.Send(connection.Fd, output.WrittenSpan);
            _stats.WriteCalls++;
            if (sent < 0 && -sent != Errno.EAGAIN)
            {
                reactor.Close(connection); // EPIPE, ECONNRESET: the peer is gone
                return;
            }
            if (sent > 0)
            {
                output.Consume(sent);
                _stats.BytesWritten += sent;
            }
        }
        if (output.Length == 0)
        {
            output.Release();
            connection.AwaitingWritable = false;
            if (connection.PendingCount == 0 && (connection.CloseAfterReplies || connection.InputEnded || reactor.Stopping))
            {
                Finish(connection);
                return;
            }
        }
        else if (ExceedsOutputLimit(connection))
        {
            return;
        }
        else
        {
            connection.AwaitingWritable = true;
        }
        reactor.UpdateInterest(connection);
    }

    /// <summary>Disconnects a peer whose unsent replies passed max-output-bytes: it is not reading them.</summary>
    public bool ExceedsOutputLimit(Connection connection)
    {
        if (connection.OutputLength <= _options.MaxOutputBytes)
            return false;
        _stats.OutputLimitDisconnects++;
        log($"closing client {connection.Id}: {connection.Output.Length} unsent bytes exceed max-output-bytes ({_options.MaxOutputBytes})");
        reactor.Close(connection);
        return true;
    }

    /// <summary>
    /// A connection that made the server buffer megabytes (a peer not reading, a huge request) has gone.
    /// The loop allocates nothing in steady state, so the next collection could be hours away: collect
    /// now and give those pages back (at most once a second; a compacting full collection of a heap
    /// this small takes milliseconds).
    /// </summary>
    public void ReturnMemoryToTheSystem()
    {
        long now = reactor.Now;
        if (now - _lastMemoryReturn < Stopwatch.Frequency)
            return;
        _lastMemoryReturn = now;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    /// <summary>Closes the lingering connections whose time is up by <paramref name="time"/>, and forgets those already closed.</summary>
    public void CloseLingeringUntil(long time)
    {
        for (int i = _lingering.Count - 1; i >= 0; i--)
        {
            Connection connection = _lingering[i];
            if (!connection.Closed && connection.LingerUntil > time)
                continue;
            reactor.Close(connection);
            _lingering.RemoveAt(i);
        }
    }

    /// <summary>
    /// Every owed reply is sent: close. After QUIT or a protocol error the peer may have sent more that was
    /// never read, and closing with unread input makes the kernel answer with a reset, which can destroy
    /// replies the peer has not read yet. So such a connection first lingers: our side is shut down (the
    /// peer reads a FIN after the replies) and its input is discarded until it closes, for at most
    /// <see cref="LingerTimeout"/>.
    /// </summary>
    private void Finish(Connection connection)
    {
        if (connection.LingerUntil != 0)
            return; // already lingering
        if (connection.InputEnded || reactor.Stopping)
        {
            reactor.Close(connection);
            return;
        }
        Sockets.ShutdownWrite(connection.Fd);
        connection.ReleaseInput();
        connection.LingerUntil = reactor.Now + ReactorLoop.Ticks(LingerTimeout);
        _lingering.Add(connection);
        reactor.UpdateInterest(connection);
    }
}
