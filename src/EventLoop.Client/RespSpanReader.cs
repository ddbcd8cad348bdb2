using System.Buffers.Text;
using System.Text;

namespace EventLoop.Client;

/// <summary>
/// Reads the parts of one complete RESP2 reply in place, from a contiguous span, without allocating: the one parser
/// under both the general <see cref="RespValue"/> tree and the typed replies (FETCH's tasks, ACK's outcome).
/// </summary>
/// <remarks>
/// <see cref="RespReplyReader"/> has already found where the reply ends, so running out of bytes here means the framing
/// and the parse disagree: a <see cref="FormatException"/>. So does a part of the wrong type where a typed reply expects
/// another: the server answered something this client does not understand.
/// </remarks>
internal ref struct RespSpanReader(ReadOnlySpan<byte> reply)
{
    private readonly ReadOnlySpan<byte> _reply = reply;
    private int _position; // bytes read so far: where the next part starts

    /// <summary>Reads a part's type byte and the rest of its first line (without the CRLF).</summary>
    public ReadOnlySpan<byte> ReadLine(out byte type)
    {
        if (_position >= _reply.Length)
            throw Truncated();
        type = _reply[_position];
        ReadOnlySpan<byte> rest = _reply[(_position + 1)..];
        int end = rest.IndexOf("\r\n"u8);
        if (end < 0)
            throw Truncated();
        _position += 1 + end + 2;
        return rest[..end];
    }

    /// <summary>Reads <c>*n</c>; -1 for a null array.</summary>
    public int ReadArrayHeader() => (int)ReadNumber((byte)'*');

    /// <summary>Reads <c>:n</c>.</summary>
    public long ReadInteger() => ReadNumber((byte)':');

    /// <summary>Reads a bulk string and returns where its payload lies in the reply (offset, length); length -1 for null.</summary>
    public (int Offset, int Length) ReadBulk()
    {
        long length = ReadNumber((byte)'$');
        return length < 0 ? (_position, -1) : ReadBulkBody(length);
    }

    /// <summary>Reads a bulk string's payload and CRLF once its <c>$length</c> line has been read.</summary>
    public (int Offset, int Length) ReadBulkBody(long length)
    {
        if (_reply.Length - _position < length + 2)
            throw Truncated();
        int offset = _position;
        _position += (int)length + 2;
        return (offset, (int)length);
    }

    /// <summary>Reads a bulk string and returns its payload (empty for null).</summary>
    public ReadOnlySpan<byte> ReadBulkSpan()
    {
        (int offset, int length) = ReadBulk();
        return length < 0 ? default : _reply.Slice(offset, length);
    }

    /// <summary>Parses a length or integer line.</summary>
    public static long ParseNumber(ReadOnlySpan<byte> digits) =>
        Utf8Parser.TryParse(digits, out long value, out int used) && used == digits.Length
            ? value
            : throw new FormatException($"bad RESP number '{Encoding.ASCII.GetString(digits)}'");

    private long ReadNumber(byte expected)
    {
        ReadOnlySpan<byte> line = ReadLine(out byte type);
        if (type == (byte)'-')
            throw new RespErrorException(Encoding.UTF8.GetString(line));
        return type == expected
            ? ParseNumber(line)
            : throw new FormatException($"expected a '{(char)expected}' reply part, got '{(char)type}'");
    }

    private static FormatException Truncated() => new("RESP reply ended early");
}
