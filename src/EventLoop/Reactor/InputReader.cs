using EventLoop.Buffers;
using EventLoop.Commands;
using EventLoop.Multiplexing;
using EventLoop.Native;
using EventLoop.Protocol;

namespace EventLoop.Reactor;

/// <summary>
/// The input side of every connection: reads within the per-event budget, parses whole requests and
/// dispatches them, carries a partial request to the next read, and answers malformed input. Owned by the
/// reactor thread.
/// </summary>
internal sealed class InputReader(ReactorLoop reactor, IMultiplexer multiplexer, CommandDispatcher commands, OutputFlusher output)
{
    private const int ReadBufferSize = 64 * 1024;

    private readonly ServerOptions _options = reactor.Options;
    private readonly ReactorStats _stats = reactor.Stats;
    private readonly RespRequestParser _parser = new(reactor.Options.ProtocolLimits);
    private readonly byte[] _readBuffer = new byte[ReadBufferSize];
    private List<Connection> _readAgain = [];
    private List<Connection> _readingAgain = [];

    /// <summary>Edge-triggered connections whose read budget ran out: read again before the next wait.</summary>
    public bool ReadsPending => _readAgain.Count > 0;

    public void ReadFrom(Connection connection)
    {
        if (!CanParse(connection))
        {
            if (connection.LingerUntil != 0)
            {
                DiscardInput(connection);
                return;
            }
            // Not watched for input, yet reported: an error or hang-up, which every backend reports
            // regardless of interest. A reset peer must be closed now, or a level-triggered wait would
            // return at once, every time, until the connection is resumed.
            if (Sockets.PendingError(connection.Fd) != 0)
                reactor.Close(connection);
            return;
        }
        bool drainToEagain = multiplexer.IsEdgeTriggered;
        for (int reads = 0; reads < _options.ReadBudget; reads++)
        {
            if (!CanParse(connection))
                return;
            Span<byte> target = ReadTarget(connection, out bool shared);
            int n = Sockets.Read(connection.Fd, target);
            _stats.ReadCalls++;
            if (n < 0)
            {
                if (-n != Errno.EAGAIN)
                    reactor.Close(connection);
                return;
            }
            if (n == 0)
            {
                EndOfInput(connection);
                return;
            }
            _stats.BytesRead += n;
            connection.LastActiveAt = reactor.Now;
            Consume(connection, shared, n);
            // Level-triggered: a short read means the socket is drained, and anything that arrives
            // later is reported again, so the EAGAIN-returning read is a syscall saved.
            if (!drainToEagain && n < target.Length)
                return;
        }
        if (drainToEagain && !connection.Closed && CanParse(connection))
            _readAgain.Add(connection); // budget spent: an edge will not come again, so come back ourselves
    }

    /// <summary>Parses what the connection carries over from earlier reads, when there can be a whole request in it.</summary>
    public void ParseCarriedInput(Connection connection)
    {
        if (connection.InputLength == 0 || connection.InputLength < connection.InputNeeded)
            return;
        PooledBuffer input = connection.Input;
        int consumed = ParseAndDispatch(connection, input.WrittenSpan);
        if (connection.Closed)
            return;
        input.Consume(consumed);
        if (input.Length == 0)
            input.Release();
        else if (consumed > 0)
            connection.IncompleteSince = reactor.Now; // a new request began: its own time limit starts now
    }

    public bool CanParse(Connection connection) =>
        !connection.Closed && !connection.Stalled && !connection.CloseAfterReplies && !reactor.Stopping
        && connection.PendingCount < _options.MaxInflight;

    /// <summary>Answers a malformed request with its error, after the replies already owed, then closes.</summary>
    public void FailProtocol(Connection connection, string message)
    {
        _stats.ProtocolErrors++;
        RespWriter.WriteError(reactor.BeginReply(connection), "ERR " + message);
        connection.CloseAfterReplies = true;
        connection.ReleaseInput();
        reactor.UpdateInterest(connection);
    }

    public void ContinueEdgeTriggeredReads()
    {
        if (_readAgain.Count == 0)
            return;
        // Swap lists: ReadFrom may queue a connection again for the next iteration.
        (_readAgain, _readingAgain) = (_readingAgain, _readAgain);
        foreach (Connection connection in _readingAgain)
        {
            if (!connection.Closed)
                ReadFrom(connection);
        }
        _readingAgain.Clear();
    }

    /// <summary>Reads and drops what a lingering connection's peer still sends; closes at its end of input or error.</summary>
    private void DiscardInput(Connection connection)
    {
        for (int reads = 0; reads < _options.ReadBudget; reads++)
        {
            int n = Sockets.Read(connection.Fd, _readBuffer);
            _stats.ReadCalls++;
            if (n == -Errno.EAGAIN)
                return;
            if (n <= 0)
            {
                reactor.Close(connection);
                return;
            }
        }
        if (multiplexer.IsEdgeTriggered)
            _readAgain.Add(connection);
    }

    /// <summary>Where the next read lands: the shared buffer, or after the partial request a connection carries.</summary>
    private Span<byte> ReadTarget(Connection connection, out bool shared)
    {
        shared = connection.InputLength == 0;
        if (shared)
            return _readBuffer;
        // The parser's hint sizes the buffer once for a large argument instead of doubling it read by read.
        int wanted = Math.Max(ReadBufferSize / 4, connection.InputNeeded - connection.Input.Length);
        return connection.Input.GetSpan(wanted);
    }

    private void Consume(Connection connection, bool shared, int n)
    {
        if (shared)
        {
            ReadOnlySpan<byte> data = _readBuffer.AsSpan(0, n);
            int consumed = ParseAndDispatch(connection, data);
            if (consumed < n && !connection.Closed)
            {
                connection.Input.Write(data[consumed..]);
                connection.IncompleteSince = reactor.Now;
            }
        }
        else
        {
            connection.Input.Advance(n);
            ParseCarriedInput(connection);
        }
        if (connection.InputLength > _options.MaxRequestBytes && !connection.Closed)
            FailProtocol(connection, $"Protocol error: request larger than {_options.MaxRequestBytes} bytes");
    }

    /// <summary>Parses and runs complete requests from <paramref name="data"/>; returns the bytes used.</summary>
    private int ParseAndDispatch(Connection connection, ReadOnlySpan<byte> data)
    {
        int offset = 0;
        connection.InputNeeded = 0;
        while (offset < data.Length && CanParse(connection))
        {
            ParseStatus status = _parser.TryParse(data[offset..], connection.Authenticated, out RespCommand command, out int consumed);
            if (status == ParseStatus.Incomplete)
            {
                connection.InputNeeded = _parser.MinimumBytes;
                if (connection.InputNeeded > _options.MaxRequestBytes)
                {
                    FailProtocol(connection, $"Protocol error: request larger than {_options.MaxRequestBytes} bytes");
                    return data.Length;
                }
                break;
            }
            if (status == ParseStatus.Error)
            {
                FailProtocol(connection, _parser.ErrorMessage!);
                return data.Length;
            }
            offset += consumed;
            if (command.Count == 0)
                continue;
            _stats.Commands++;
            commands.Execute(connection, command);
            if (connection.Closed || output.ExceedsOutputLimit(connection))
                return data.Length;
        }
        return offset;
    }

    private void EndOfInput(Connection connection)
    {
        connection.InputEnded = true;
        reactor.ExpireParked(connection);
        connection.ReleaseInput();
        if (connection.PendingCount == 0 && connection.OutputLength == 0)
            reactor.Close(connection);
        else
            reactor.UpdateInterest(connection);
    }
}
