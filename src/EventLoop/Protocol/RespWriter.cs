using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace EventLoop.Protocol;

/// <summary>
/// RESP2 reply encoders writing straight into an <see cref="IBufferWriter{T}"/>; they allocate nothing
/// (numbers are formatted in place). Stateless: safe on any thread, for a writer owned by that thread.
/// </summary>
public static class RespWriter
{
    // A type byte, "-9223372036854775808" (20 bytes) and CRLF.
    private const int MaxNumberLineBytes = 1 + 20 + 2;

    /// <summary>Writes <c>+text\r\n</c>; <paramref name="text"/> must not contain CR or LF.</summary>
    public static void WriteSimpleString(IBufferWriter<byte> writer, ReadOnlySpan<byte> text) =>
        WriteLine(writer, (byte)'+', text);

    /// <summary>
    /// Writes <c>-message\r\n</c>; <paramref name="message"/> includes its prefix (e.g. <c>ERR unknown command</c>)
    /// and must not contain CR or LF.
    /// </summary>
    public static void WriteError(IBufferWriter<byte> writer, ReadOnlySpan<byte> message) =>
        WriteLine(writer, (byte)'-', message);

    /// <summary>
    /// Writes <c>-message\r\n</c> with <paramref name="message"/> UTF-8 encoded and its CR and LF replaced
    /// by spaces, so that text from anywhere (an exception, a task's failure) cannot break the framing.
    /// </summary>
    public static void WriteError(IBufferWriter<byte> writer, string message)
    {
        int length = Encoding.UTF8.GetByteCount(message);
        Span<byte> span = writer.GetSpan(length + 3);
        span[0] = (byte)'-';
        Span<byte> text = span.Slice(1, Encoding.UTF8.GetBytes(message, span[1..]));
        // Safe on encoded bytes: UTF-8 multi-byte sequences never contain bytes below 0x80.
        text.Replace((byte)'\r', (byte)' ');
        text.Replace((byte)'\n', (byte)' ');
        "\r\n"u8.CopyTo(span[(1 + length)..]);
        writer.Advance(length + 3);
    }

    /// <summary>Writes <c>:value\r\n</c>.</summary>
    public static void WriteInteger(IBufferWriter<byte> writer, long value) => WriteNumberLine(writer, (byte)':', value);

    /// <summary>Writes <c>$len\r\nvalue\r\n</c>.</summary>
    public static void WriteBulkString(IBufferWriter<byte> writer, ReadOnlySpan<byte> value)
    {
        WriteNumberLine(writer, (byte)'$', value.Length);
        writer.Write(value);
        writer.Write("\r\n"u8);
    }

    /// <summary>Writes <paramref name="value"/> UTF-8 encoded as a bulk string.</summary>
    public static void WriteBulkString(IBufferWriter<byte> writer, string value)
    {
        WriteNumberLine(writer, (byte)'$', Encoding.UTF8.GetByteCount(value));
        Encoding.UTF8.GetBytes(value, writer);
        writer.Write("\r\n"u8);
    }

    /// <summary>Writes <c>$len\r\n</c>; the caller then writes the payload and its CRLF.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative (use <see cref="WriteNullBulkString"/>).</exception>
    public static void WriteBulkStringHeader(IBufferWriter<byte> writer, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        WriteNumberLine(writer, (byte)'$', length);
    }

    /// <summary>Writes the null bulk string <c>$-1\r\n</c>.</summary>
    public static void WriteNullBulkString(IBufferWriter<byte> writer) => writer.Write("$-1\r\n"u8);

    /// <summary>Writes <c>*count\r\n</c>; the caller then writes <paramref name="count"/> elements.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative (use <see cref="WriteNullArray"/>).</exception>
    public static void WriteArrayHeader(IBufferWriter<byte> writer, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        WriteNumberLine(writer, (byte)'*', count);
    }

    /// <summary>Writes the null array <c>*-1\r\n</c>.</summary>
    public static void WriteNullArray(IBufferWriter<byte> writer) => writer.Write("*-1\r\n"u8);

    /// <summary>Writes pre-encoded reply bytes as they are (e.g. <c>"+OK\r\n"u8</c>).</summary>
    public static void WriteRaw(IBufferWriter<byte> writer, ReadOnlySpan<byte> bytes) => writer.Write(bytes);

    private static void WriteLine(IBufferWriter<byte> writer, byte type, ReadOnlySpan<byte> text)
    {
        Span<byte> span = writer.GetSpan(text.Length + 3);
        span[0] = type;
        text.CopyTo(span[1..]);
        "\r\n"u8.CopyTo(span[(1 + text.Length)..]);
        writer.Advance(text.Length + 3);
    }

    private static void WriteNumberLine(IBufferWriter<byte> writer, byte type, long value)
    {
        Span<byte> span = writer.GetSpan(MaxNumberLineBytes);
        span[0] = type;
        Utf8Formatter.TryFormat(value, span[1..], out int digits);
        "\r\n"u8.CopyTo(span[(1 + digits)..]);
        writer.Advance(digits + 3);
    }
}
