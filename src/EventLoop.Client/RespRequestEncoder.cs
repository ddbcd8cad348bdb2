using System.Buffers;
using System.Buffers.Text;
using System.Text;

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

    /// <summary>Writes <paramref name="value"/> as a bulk string of its UTF-8 bytes, encoded straight into the writer.</summary>
    internal static void WriteBulkString(IBufferWriter<byte> writer, string value)
    {
        int length = Encoding.UTF8.GetByteCount(value);
        WriteHeader(writer, (byte)'$', length);
        Span<byte> body = writer.GetSpan(length + 2);
        Encoding.UTF8.GetBytes(value, body);
        body[length] = (byte)'\r';
        body[length + 1] = (byte)'\n';
        writer.Advance(length + 2);
    }

    /// <summary>Writes <paramref name="value"/>'s invariant digits as a bulk string (how RESP requests carry numbers).</summary>
    internal static void WriteBulkString(IBufferWriter<byte> writer, long value)
    {
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(value, digits, out int written);
        WriteBulkString(writer, digits[..written]);
    }

    /// <summary>Writes <c>ACK id attempt result</c> with no intermediate buffers: a worker's one per-task request.</summary>
    internal static void WriteAck(IBufferWriter<byte> writer, string id, long attempt, ReadOnlySpan<byte> result)
    {
        WriteArrayHeader(writer, 4);
        WriteBulkString(writer, "ACK"u8);
        WriteBulkString(writer, id);
        WriteBulkString(writer, attempt);
        WriteBulkString(writer, result);
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
