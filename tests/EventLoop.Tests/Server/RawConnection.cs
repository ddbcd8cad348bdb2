using System.Net;
using System.Net.Sockets;
using System.Text;

namespace EventLoop.Tests.Server;

/// <summary>
/// A byte-exact client over a real loopback socket: tests say what goes on the wire and what must come
/// back, with a deadline on every read so a missing reply fails instead of hanging.
/// </summary>
public sealed class RawConnection : IDisposable
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);
    private readonly List<byte> _received = [];

    private RawConnection(Socket socket) => Socket = socket;

    public Socket Socket { get; }

    public static RawConnection Open(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
        return new RawConnection(socket);
    }

    /// <summary>Encodes a multibulk request, as client libraries send it.</summary>
    public static byte[] Encode(params string[] args) => EncodeBytes(args.Select(Encoding.UTF8.GetBytes).ToArray());

    public static byte[] EncodeBytes(params byte[][] args)
    {
        var frame = new List<byte>();
        frame.AddRange(Encoding.ASCII.GetBytes($"*{args.Length}\r\n"));
        foreach (byte[] arg in args)
        {
            frame.AddRange(Encoding.ASCII.GetBytes($"${arg.Length}\r\n"));
            frame.AddRange(arg);
            frame.AddRange("\r\n"u8.ToArray());
        }
        return [.. frame];
    }

    public void Send(byte[] bytes) => Socket.Send(bytes);

    public void Send(string raw) => Send(Encoding.UTF8.GetBytes(raw));

    public void SendCommand(params string[] args) => Send(Encode(args));

    /// <summary>Sends one command and returns its whole reply as text.</summary>
    public string Call(params string[] args)
    {
        SendCommand(args);
        return ReadReply();
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes.</summary>
    public byte[] ReadBytes(int count, TimeSpan? timeout = null)
    {
        Fill(() => _received.Count >= count, timeout);
        byte[] bytes = [.. _received.Take(count)];
        _received.RemoveRange(0, count);
        return bytes;
    }

    public string ReadString(int count, TimeSpan? timeout = null) => Encoding.UTF8.GetString(ReadBytes(count, timeout));

    /// <summary>Reads one complete RESP reply and returns its raw text.</summary>
    public string ReadReply(TimeSpan? timeout = null)
    {
        int length = 0;
        Fill(() => (length = ReplyLength(_received, 0)) > 0, timeout);
        return ReadString(length);
    }

    /// <summary>Reads until the server closes the connection; returns what came before the close.</summary>
    public string ReadToClose(TimeSpan? timeout = null)
    {
        Fill(() => false, timeout, untilClosed: true);
        string text = Encoding.UTF8.GetString([.. _received]);
        _received.Clear();
        return text;
    }

    /// <summary>
    /// Asserts that the server's next act is an orderly close (FIN): nothing more to read, and no reset, which
    /// can destroy replies before the peer reads them.
    /// </summary>
    public void AssertOrderlyClose(TimeSpan? timeout = null)
    {
        Assert.True(_received.Count == 0, $"{_received.Count} more bytes before the close: {Preview()}");
        Socket.ReceiveTimeout = (int)(timeout ?? DefaultTimeout).TotalMilliseconds;
        int n = Socket.Receive(new byte[64]); // a reset throws ConnectionReset
        Assert.True(n == 0, $"{n} more bytes where the close was expected");
    }

    /// <summary>True when the server has closed the connection (a read returns 0 or reset) within the timeout.</summary>
    public bool IsClosedByServer(TimeSpan? timeout = null)
    {
        try
        {
            ReadToClose(timeout);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private void Fill(Func<bool> done, TimeSpan? timeout, bool untilClosed = false)
    {
        DateTime deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        byte[] chunk = new byte[64 * 1024];
        while (!done())
        {
            TimeSpan left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                throw new TimeoutException($"no complete reply within the deadline; got {_received.Count} bytes: {Preview()}");
            if (!Socket.Poll(left, SelectMode.SelectRead))
                continue;
            int n;
            try
            {
                n = Socket.Receive(chunk);
            }
            catch (SocketException reset) when (untilClosed && reset.SocketErrorCode == SocketError.ConnectionReset)
            {
                return;
            }
            if (n == 0)
            {
                if (untilClosed)
                    return;
                throw new IOException($"the server closed the connection; got {_received.Count} bytes: {Preview()}");
            }
            _received.AddRange(chunk.AsSpan(0, n).ToArray());
        }
    }

    private string Preview() => Encoding.UTF8.GetString([.. _received.Take(200)]).Replace("\r\n", "\\r\\n");

    /// <summary>Length of the complete reply starting at <paramref name="start"/>, or 0 if incomplete.</summary>
    private static int ReplyLength(List<byte> data, int start)
    {
        int lineEnd = IndexOfCrlf(data, start);
        if (lineEnd < 0)
            return 0;
        string header = Encoding.ASCII.GetString([.. data.Skip(start + 1).Take(lineEnd - start - 1)]);
        int afterHeader = lineEnd + 2 - start;
        switch ((char)data[start])
        {
            case '+' or '-' or ':':
                return afterHeader;
            case '$':
                int length = int.Parse(header);
                if (length < 0) return afterHeader;
                return data.Count - start >= afterHeader + length + 2 ? afterHeader + length + 2 : 0;
            case '*':
                int count = int.Parse(header);
                int total = afterHeader;
                for (int i = 0; i < count; i++)
                {
                    int element = ReplyLength(data, start + total);
                    if (element == 0) return 0;
                    total += element;
                }
                return total;
            default:
                throw new InvalidDataException($"not a RESP reply: '{(char)data[start]}'");
        }
    }

    private static int IndexOfCrlf(List<byte> data, int start)
    {
        for (int i = start; i + 1 < data.Count; i++)
        {
            if (data[i] == '\r' && data[i + 1] == '\n')
                return i;
        }
        return -1;
    }

    public void Dispose() => Socket.Dispose();
}
