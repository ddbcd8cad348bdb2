using System.Net;
using System.Net.Sockets;
using System.Text;

namespace EventLoop.Tests.Journal;

/// <summary>An error reply.</summary>
public sealed record RespError(string Message);

/// <summary>
/// A minimal pipelining RESP client for volume tests: queue commands, flush once, read replies in order
/// (simple and bulk strings as string, integers as long, nil as null, arrays as object?[], errors as <see cref="RespError"/>).
/// </summary>
public sealed class RespPipe : IDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly BufferedStream _reader;
    private readonly MemoryStream _out = new();

    public RespPipe(int port, int timeoutMs = 20_000)
    {
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveTimeout = timeoutMs, SendTimeout = timeoutMs };
        _socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
        _stream = new NetworkStream(_socket, ownsSocket: true);
        _reader = new BufferedStream(_stream, 64 * 1024);
    }

    public void Queue(params string[] args)
    {
        Write($"*{args.Length}\r\n");
        foreach (string arg in args)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(arg);
            Write($"${bytes.Length}\r\n");
            _out.Write(bytes);
            Write("\r\n");
        }
    }

    public void Flush()
    {
        _stream.Write(_out.GetBuffer(), 0, (int)_out.Length);
        _out.SetLength(0);
    }

    public object? Call(params string[] args)
    {
        Queue(args);
        Flush();
        return Read();
    }

    public object? Read()
    {
        string line = ReadLine();
        switch (line[0])
        {
            case '+': return line[1..];
            case '-': return new RespError(line[1..]);
            case ':': return long.Parse(line[1..]);
            case '$':
            {
                int length = int.Parse(line[1..]);
                if (length < 0)
                    return null;
                byte[] data = new byte[length + 2];
                _reader.ReadExactly(data);
                return Encoding.UTF8.GetString(data, 0, length);
            }
            case '*':
            {
                int count = int.Parse(line[1..]);
                if (count < 0)
                    return null;
                var items = new object?[count];
                for (int i = 0; i < count; i++)
                    items[i] = Read();
                return items;
            }
            default: throw new InvalidDataException($"unexpected reply line '{line}'");
        }
    }

    private string ReadLine()
    {
        var line = new StringBuilder();
        while (true)
        {
            int b = _reader.ReadByte();
            if (b < 0)
                throw new EndOfStreamException("the server closed the connection");
            if (b == '\r')
            {
                _reader.ReadByte();
                return line.ToString();
            }
            line.Append((char)b);
        }
    }

    private void Write(string ascii) => _out.Write(Encoding.ASCII.GetBytes(ascii));

    public void Dispose() => _reader.Dispose();
}
