using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;

namespace EventLoop.Client;

/// <summary>
/// An asynchronous RESP2 client over one TCP connection, for EventLoop or any RESP server.
/// </summary>
/// <remarks>
/// <para>Calls are pipelined: any number may be outstanding at once, from any number of threads.
/// Each call's request is queued for sending in the same step as its place in the reply queue, so
/// replies, which carry no ids in RESP, are matched to calls in the order they were made.</para>
/// <para>Errors: <see cref="ExecuteAsync(string[])"/> returns error replies as values of kind
/// <see cref="RespKind.Error"/>; the typed helpers (<see cref="PingAsync"/>, <see cref="RunAsync"/>,
/// <see cref="InfoAsync"/>, and the task queue's <see cref="SubmitAsync(string, SubmitOptions?, string[])"/>,
/// <see cref="StatusAsync"/>, <see cref="ResultAsync"/>, <see cref="WaitAsync"/>, <see cref="CancelAsync"/>, the
/// schedule, queue and dead-set methods) throw <see cref="RespErrorException"/> instead, except where a reply has a
/// meaning of its own (<see cref="ResultAsync"/> throws a <see cref="TaskResultException"/> per outcome). When the connection
/// is lost, every pending call and every later call fails with <see cref="RespConnectionException"/>.</para>
/// <para>Cancellation: a request cannot be taken back once it is queued for the wire, so cancelling
/// a call cancels its task while the server still runs the command; its reply is read and discarded
/// when it comes, and the calls behind it keep their replies.</para>
/// <para>Thread-safe. A background loop receives; requests are sent by the calls themselves, one at a time.</para>
/// </remarks>
public sealed partial class EventLoopClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly string _endpoint;
    // Requests are encoded into this pipe under _gate. The call that finds no send in progress sends what the pipe
    // holds itself (SendPendingAsync): usually one send(2) on its own thread, with no hand-off to another thread;
    // requests queued meanwhile leave together in the next send, and a caller waits for the socket only while the
    // kernel takes the bytes (a full socket buffer continues on the thread pool).
    private readonly Pipe _outbox = new(new PipeOptions(pauseWriterThreshold: 0, minimumSegmentSize: BufferSize, useSynchronizationContext: false));
    private readonly Lock _gate = new();
    // Guarded by _gate, in wire order. A sink stays at the head until its last reply is in, so a failure reaches it.
    private readonly Queue<ExpectedReplies> _pending = new();
    private RespConnectionException? _failure;             // guarded by _gate; set once
    private bool _sending;                                 // guarded by _gate: a SendPendingAsync owns the pipe's reader
    private readonly PipeReader _input;
    private readonly Task _receiveLoop;

    private EventLoopClient(Socket socket, string endpoint)
    {
        _socket = socket;
        _endpoint = endpoint;
        _input = PipeReader.Create(new NetworkStream(socket, ownsSocket: false), new StreamPipeReaderOptions(bufferSize: BufferSize));
        _receiveLoop = Task.Run(ReceiveLoopAsync);
    }

    /// <summary>Connects to a RESP server.</summary>
    /// <exception cref="RespConnectionException">The connection could not be made (the inner exception says why).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first.</exception>
    public static async Task<EventLoopClient> ConnectAsync(string host, int port, CancellationToken cancellationToken = default)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new RespConnectionException($"could not connect to {host}:{port}: {e.Message}", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new EventLoopClient(socket, $"{host}:{port}");
    }

    /// <summary>Sends a command (its name and arguments as text, sent as UTF-8) and returns the reply, error replies included.</summary>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public Task<RespValue> ExecuteAsync(params string[] arguments) => ExecuteAsync(Utf8(arguments), CancellationToken.None);

    /// <summary>Sends a command given as raw arguments and returns the reply, error replies included.</summary>
    /// <param name="arguments">The command name and its arguments; the memory is encoded before this returns.</param>
    /// <param name="cancellationToken">Cancels the wait for the reply (see the remarks on <see cref="EventLoopClient"/>).</param>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    /// <exception cref="OperationCanceledException">The call was cancelled.</exception>
    public Task<RespValue> ExecuteAsync(ReadOnlyMemory<byte>[] arguments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        if (arguments.Length == 0)
            throw new ArgumentException("a command needs at least its name", nameof(arguments));
        if (cancellationToken.IsCancellationRequested)
            return Task.FromCanceled<RespValue>(cancellationToken);
        var call = new SingleCall<RespValue>(ValueReply);
        call.CancelWith(cancellationToken); // before the receive loop can see the call
        return Send(call, 1, new CommandRequest(arguments));
    }

    /// <summary>Sends <c>PING</c>; returns the server's answer (normally <c>PONG</c>).</summary>
    /// <exception cref="RespErrorException">The server answered with an error.</exception>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public async Task<string> PingAsync() => (await ExecuteCheckedAsync(["PING"]).ConfigureAwait(false)).Text ?? "";

    /// <summary>Runs a task on an EventLoop server (<c>RUN task args…</c>) and returns its result's bytes.</summary>
    /// <returns>A bulk reply's payload; for a simple string or integer reply, its text as UTF-8; for null, an empty array.</returns>
    /// <exception cref="RespErrorException">The task failed or does not exist.</exception>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public async Task<byte[]> RunAsync(string task, params string[] arguments)
    {
        RespValue reply = await ExecuteCheckedAsync(["RUN", task, .. arguments]).ConfigureAwait(false);
        return reply.Kind switch
        {
            RespKind.BulkString => reply.Bytes.ToArray(),
            RespKind.Null or RespKind.Array => [],
            _ => Encoding.UTF8.GetBytes(reply.Text ?? ""),
        };
    }

    /// <summary>Sends <c>INFO</c>, or <c>INFO section</c>, and returns the text.</summary>
    /// <exception cref="RespErrorException">The server answered with an error.</exception>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public async Task<string> InfoAsync(string? section = null)
    {
        string[] command = section is null ? ["INFO"] : ["INFO", section];
        return (await ExecuteCheckedAsync(command).ConfigureAwait(false)).Text ?? "";
    }

    /// <summary>Closes the connection. Calls still pending fail with <see cref="RespConnectionException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        Fail(new RespConnectionException($"the client for {_endpoint} was disposed"));
        await _receiveLoop.ConfigureAwait(false);
        bool idle;
        lock (_gate)
        {
            idle = !_sending;
            _sending = true; // no send starts after a failure anyway: this claims the reader for good
        }
        if (idle)
            await _outbox.Reader.CompleteAsync().ConfigureAwait(false);
        // A send still in progress ends with the socket (its error is the failure already recorded) and completes the
        // reader itself.
        _socket.Dispose();
    }

    private async Task<RespValue> ExecuteCheckedAsync(string[] arguments)
    {
        RespValue reply = await ExecuteAsync(Utf8(arguments), CancellationToken.None).ConfigureAwait(false);
        return reply.IsError ? throw new RespErrorException(reply.Text ?? "") : reply;
    }

    private async Task<RespValue> ExecuteCheckedAsync(ReadOnlyMemory<byte>[] arguments)
    {
        RespValue reply = await ExecuteAsync(arguments, CancellationToken.None).ConfigureAwait(false);
        return reply.IsError ? throw new RespErrorException(reply.Text ?? "") : reply;
    }

    private static ReadOnlyMemory<byte>[] Utf8(string[] arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        return Array.ConvertAll(arguments, a => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(a));
    }

    /// <summary>
    /// Sends what the outbox holds until it is empty, then gives up the reader. Started by the call that found no send
    /// in progress, so it runs on that call's thread up to the first send that does not complete at once.
    /// </summary>
    private async Task SendPendingAsync()
    {
        try
        {
            while (true)
            {
                ReadResult result;
                lock (_gate)
                {
                    // Under the gate, so a request written after the last read finds _sending cleared and sends itself.
                    if (!_outbox.Reader.TryRead(out result))
                    {
                        _sending = false;
                        return;
                    }
                }
                foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                    await SendAllAsync(segment).ConfigureAwait(false);
                _outbox.Reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                    break;
            }
        }
        catch (Exception e)
        {
            Fail(new RespConnectionException($"sending to {_endpoint} failed: {e.Message}", e));
        }
        // Only after a failure (the writer was completed): no request is queued any more, and no send starts again.
        await _outbox.Reader.CompleteAsync().ConfigureAwait(false);
    }

    private async Task SendAllAsync(ReadOnlyMemory<byte> bytes)
    {
        while (!bytes.IsEmpty)
            bytes = bytes[await _socket.SendAsync(bytes, SocketFlags.None).ConfigureAwait(false)..];
    }

    private async Task ReceiveLoopAsync()
    {
        var framer = new ReplyFramer();
        var receiver = new ReplyRouter(this);
        try
        {
            while (true)
            {
                ReadResult result = await _input.ReadAsync().ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = result.Buffer;
                while (framer.TryTake(ref buffer, out ReadOnlySequence<byte> reply))
                    receiver.Deliver(reply);
                _input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    Fail(new RespConnectionException($"{_endpoint} closed the connection"));
                    return;
                }
            }
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            Fail(new RespConnectionException($"protocol error from {_endpoint}: {e.Message}", e));
        }
        catch (Exception e)
        {
            Fail(new RespConnectionException($"receiving from {_endpoint} failed: {e.Message}", e));
        }
        finally
        {
            await _input.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Records the first failure, fails every pending call with it, and closes the socket.</summary>
    private void Fail(RespConnectionException failure)
    {
        ExpectedReplies[] orphans;
        lock (_gate)
        {
            if (_failure is not null)
                return;
            _failure = failure;
            orphans = [.. _pending];
            _pending.Clear();
            _outbox.Writer.Complete();
        }
        foreach (ExpectedReplies orphan in orphans)
            orphan.Sink.Fail(failure);
        // Shutdown wakes both loops; the socket is disposed in DisposeAsync once they have ended.
        try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
    }

    /// <summary>Finds reply boundaries in the receive buffer, remembering how far it scanned between reads.</summary>
    private struct ReplyFramer
    {
        private RespReplyReader _reader;
        private long _scanned; // bytes of the current buffer already fed to _reader

        public bool TryTake(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> reply)
        {
            long offset = _scanned;
            foreach (ReadOnlyMemory<byte> segment in buffer.Slice(_scanned))
            {
                RespReadStatus status = _reader.Read(segment.Span, out int consumed, out _);
                offset += consumed;
                if (status == RespReadStatus.Malformed)
                    throw new FormatException("the server sent bytes that are not a RESP2 reply");
                if (status == RespReadStatus.Complete)
                {
                    reply = buffer.Slice(0, offset);
                    buffer = buffer.Slice(offset);
                    _scanned = 0;
                    return true;
                }
            }
            _scanned = offset;
            reply = default;
            return false;
        }
    }

    /// <summary>Sends several commands in one write and returns their replies in order, error replies included.</summary>
    /// <remarks>One task for the whole batch: the cheap way to pipeline many small commands.</remarks>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public Task<RespValue[]> ExecuteBatchAsync(IReadOnlyList<ReadOnlyMemory<byte>[]> commands)
    {
        ArgumentNullException.ThrowIfNull(commands);
        return commands.Count == 0 ? Task.FromResult<RespValue[]>([]) : Send(new BatchCall<RespValue>(commands.Count, ValueReply), commands.Count, new CommandBatchRequest(commands));
    }
}
