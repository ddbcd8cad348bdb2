using System.Buffers;
using System.Buffers.Text;

namespace EventLoop.Client;

/// <summary>Encodes commands the way clients send them: a RESP2 array of bulk strings.</summary>
public static class RespRequestEncoder
{
    private const int MaxHeaderLength = 1 + 20 + 2; // type byte, a long's digits, CRLF

    /// <summary>Writes a whole command (<c>*N</c> then each argument as a bulk string).</summary>
    public static void WriteCommand(IBufferWriter<byte> writer, ReadOnlySpan<ReadOnlyMemory<byte>> arguments)
    {
        WriteArrayHeader(writer, arguments.Length);
        foreach (ReadOnlyMemory<byte> argument in arguments)
            WriteBulkString(writer, argument.Span);
    }

    /// <summary>Writes <c>*count\r\n</c>, the header of an array of <paramref name="count"/> elements.</summary>
    public static void WriteArrayHeader(IBufferWriter<byte> writer, int count) => WriteHeader(writer, (byte)'*', count);

    /// <summary>Writes <c>$length\r\n</c>, the value, and <c>\r\n</c>. The value's bytes are the last <c>length + 2</c> written.</summary>
    public static void WriteBulkString(IBufferWriter<byte> writer, ReadOnlySpan<byte> value)
    {
        WriteHeader(writer, (byte)'$', value.Length);
        Span<byte> body = writer.GetSpan(value.Length + 2);
        value.CopyTo(body);
        body[value.Length] = (byte)'\r';
        body[value.Length + 1] = (byte)'\n';
        writer.Advance(value.Length + 2);
    }

    private static void WriteHeader(IBufferWriter<byte> writer, byte type, int number)
    {
        Span<byte> span = writer.GetSpan(MaxHeaderLength);
        span[0] = type;
        Utf8Formatter.TryFormat(number, span[1..], out int digits);
        span[1 + digits] = (byte)'\r';
        span[2 + digits] = (byte)'\n';
        writer.Advance(3 + digits);
    }
}
