using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using EventLoop.Client;

namespace EventLoop.Tests.Load;

/// <summary>
/// A small RESP server for tests that need what a real server does not do on demand: close or
/// reset connections mid-run, answer with errors, stall for a while, never answer, or report when
/// each connection was accepted, or lose or mix up task results. Everything else is a plain answer
/// (PONG, the ECHO argument, or a task queue in miniature: SUBMIT keeps its argument under a new
/// numbered id, RESULT returns it).
/// Thread-safe: one task per connection.
/// </summary>
internal sealed class FaultyRespServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private readonly List<long> _acceptedAt = [];
    private readonly List<int> _requestsPerReceive = [];
    private readonly Task _acceptLoop;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<long, byte[]> _tasks = new();
    private long _requests;
    private long _lastTaskId;
    private long _stallUntil;

    public FaultyRespServer(ServerFaults? faults = null)
    {
        Faults = faults ?? new ServerFaults();
        _listener.Start(backlog: 1024);
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = StartAcceptThread();
    }

    public ServerFaults Faults { get; }
    public int Port { get; }
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Stopwatch timestamps of every accepted connection, in order.</summary>
    public long[] AcceptedAt
    {
        get { lock (_acceptedAt) return [.. _acceptedAt]; }
    }

    /// <summary>How many complete requests each receive brought, over all connections in arrival order.</summary>
    public int[] RequestsPerReceive
    {
        get { lock (_requestsPerReceive) return [.. _requestsPerReceive]; }
    }

    /// <summary>Accepts on a dedicated thread, so accept timestamps do not wait for a thread-pool turn.</summary>
    private Task StartAcceptThread()
    {
        var stopped = new TaskCompletionSource();
        var thread = new Thread(() =>
        {
            try
            {
                while (true)
                {
                    Socket socket = _listener.AcceptSocket();
                    lock (_acceptedAt)
                        _acceptedAt.Add(Stopwatch.GetTimestamp());
                    socket.NoDelay = true;
                    lock (_connections)
                        _connections.Add(Task.Run(() => ServeAsync(socket)));
                }
            }
            catch (Exception e) when (e is SocketException or InvalidOperationException or ObjectDisposedException)
            {
                stopped.SetResult(); // the listener was stopped
            }
        })
        { IsBackground = true, Name = "fake-accept" };
        thread.Start();
        return stopped.Task;
    }

    private async Task ServeAsync(Socket socket)
    {
        var buffer = new byte[64 * 1024];
        var pending = new ArrayBufferWriter<byte>(); // request bytes not yet framed
        var replies = new ArrayBufferWriter<byte>();
        var reader = new RespReplyReader();
        int answeredHere = 0;
        try
        {
            while (true)
            {
                int n = await socket.ReceiveAsync(buffer, _stop.Token);
                if (n == 0)
                    return;
                if (Faults.NeverReply)
                    continue;
                List<RespValue> requests = Frame(ref reader, pending, buffer.AsSpan(0, n));
                lock (_requestsPerReceive)
                    _requestsPerReceive.Add(requests.Count);
                for (int i = 0; i < requests.Count; i++)
                {
                    await StallIfDueAsync(Interlocked.Increment(ref _requests));
                    if (i > 0 && Faults.ReplyGap > TimeSpan.Zero)
                    {
                        await FlushAsync(socket, replies);
                        await Task.Delay(Faults.ReplyGap);
                    }
                    await AnswerAsync(requests[i], replies);
                    if (Faults.CloseAfter > 0 && ++answeredHere >= Faults.CloseAfter)
                    {
                        await FlushAsync(socket, replies);
                        Close(socket);
                        return;
                    }
                }
                await FlushAsync(socket, replies);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException) { }
        finally
        {
            socket.Dispose();
        }
    }

    /// <summary>Complete requests found in the stream so far (each a RESP array, framed by the client's own reader).</summary>
    private static List<RespValue> Frame(ref RespReplyReader reader, ArrayBufferWriter<byte> pending, ReadOnlySpan<byte> data)
    {
        var requests = new List<RespValue>();
        while (!data.IsEmpty)
        {
            RespReadStatus status = reader.Read(data, out int consumed, out _);
            pending.Write(data[..consumed]);
            data = data[consumed..];
            if (status == RespReadStatus.Malformed)
                throw new InvalidDataException("the client sent bytes that are not RESP");
            if (status == RespReadStatus.Complete)
            {
                requests.Add(RespValueParser.Parse(new ReadOnlySequence<byte>(pending.WrittenMemory.ToArray())));
                pending.Clear();
            }
        }
        return requests;
    }

    private async Task StallIfDueAsync(long requestNumber)
    {
        if (Faults.StallAfterRequests > 0 && requestNumber == Faults.StallAfterRequests)
            Interlocked.Exchange(ref _stallUntil, Stopwatch.GetTimestamp() + (long)(Faults.StallFor.TotalSeconds * Stopwatch.Frequency));
        long wait = Interlocked.Read(ref _stallUntil) - Stopwatch.GetTimestamp();
        if (wait > 0)
            await Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency));
    }

    private async Task AnswerAsync(RespValue request, ArrayBufferWriter<byte> replies)
    {
        string command = request.Elements.Count > 0 ? request.Elements[0].Text!.ToUpperInvariant() : "";
        if (Faults.ErrorEvery > 0 && Requests % Faults.ErrorEvery == 0)
            replies.Write("-ERR injected fault\r\n"u8);
        else if (command == "ECHO" && request.Elements.Count == 2)
            RespRequestEncoder.WriteBulkString(replies, request.Elements[1].Bytes.Span);
        else if (command == "SUBMIT")
        {
            long id = Interlocked.Increment(ref _lastTaskId);
            _tasks[id] = request.Elements[^1].Bytes.ToArray(); // the last word: SUBMIT task ARGS arg
            RespRequestEncoder.WriteBulkString(replies, System.Text.Encoding.ASCII.GetBytes(id.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        else if (command == "RESULT")
            AnswerResult(long.Parse(request.Elements[1].Text!, System.Globalization.CultureInfo.InvariantCulture), replies);
        else if (command == "SLOW")
        {
            await Task.Delay(Faults.SlowReplyDelay);
            replies.Write("+SLOW\r\n"u8);
        }
        else
            replies.Write("+PONG\r\n"u8);
    }

    private void AnswerResult(long id, ArrayBufferWriter<byte> replies)
    {
        // Another task's result has the same length and shape: only what it holds differs.
        if (Faults.ForgetTasks || !_tasks.TryGetValue(Faults.AnswerPreviousTask ? id - 1 : id, out byte[]? result))
            replies.Write("$-1\r\n"u8);
        else
            RespRequestEncoder.WriteBulkString(replies, result);
    }

    private static async Task FlushAsync(Socket socket, ArrayBufferWriter<byte> replies)
    {
        ReadOnlyMemory<byte> bytes = replies.WrittenMemory;
        while (!bytes.IsEmpty)
            bytes = bytes[await socket.SendAsync(bytes)..];
        replies.Clear();
    }

    private void Close(Socket socket)
    {
        if (Faults.ResetOnClose)
            socket.LingerState = new LingerOption(true, 0); // close() then sends RST
        else
            socket.Shutdown(SocketShutdown.Both);
        socket.Close();
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
            return;
        _stop.Cancel();
        _listener.Stop();
        await _acceptLoop;
        Task[] connections;
        lock (_connections)
            connections = [.. _connections];
        await Task.WhenAll(connections);
    }

    /// <summary>A port on loopback where nothing listens (connects are refused).</summary>
    public static int UnusedPort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }
}

/// <summary>What <see cref="FaultyRespServer"/> does wrong, and when.</summary>
internal sealed record ServerFaults
{
    /// <summary>Every Nth request (counted over the server) gets an error reply; 0 = never.</summary>
    public int ErrorEvery { get; init; }
    /// <summary>Each connection is closed after answering this many requests; 0 = never.</summary>
    public int CloseAfter { get; init; }
    /// <summary>Close with RST instead of FIN.</summary>
    public bool ResetOnClose { get; init; }
    /// <summary>When the server has seen this many requests, all replies wait <see cref="StallFor"/>; 0 = never.</summary>
    public long StallAfterRequests { get; init; }
    public TimeSpan StallFor { get; init; }
    /// <summary>Read requests and never answer.</summary>
    public bool NeverReply { get; init; }
    /// <summary>Requests that came together are answered one at a time, this far apart; zero = all at once.</summary>
    public TimeSpan ReplyGap { get; init; }
    /// <summary>RESULT answers nil: every task is forgotten as soon as it is submitted.</summary>
    public bool ForgetTasks { get; init; }
    /// <summary>RESULT n answers with task n-1's argument (so the first task's RESULT answers nil).</summary>
    public bool AnswerPreviousTask { get; init; }
    /// <summary>How long the reply to a SLOW command takes.</summary>
    public TimeSpan SlowReplyDelay { get; init; } = TimeSpan.FromMilliseconds(300);
}
