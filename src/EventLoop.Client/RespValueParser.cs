using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace EventLoop.Client;

/// <summary>
/// Materialises one reply whose end <see cref="RespReplyReader"/> has already found, so running
/// out of bytes here means the framing and the parse disagree: a protocol error.
/// </summary>
internal static class RespValueParser
{
    public static RespValue Parse(ReadOnlySequence<byte> reply)
    {
        var reader = new SequenceReader<byte>(reply);
        return ParseElement(ref reader);
    }

    private static RespValue ParseElement(ref SequenceReader<byte> reader)
    {
        if (!reader.TryRead(out byte type))
            throw Truncated();
        ReadOnlySequence<byte> line = ReadLine(ref reader);
        switch (type)
        {
            case (byte)'+': return RespValue.SimpleString(Encoding.UTF8.GetString(line));
            case (byte)'-': return RespValue.Error(Encoding.UTF8.GetString(line));
            case (byte)':': return RespValue.Integer(ParseNumber(line));
            case (byte)'$': return ParseBulk(ref reader, ParseNumber(line));
            case (byte)'*': return ParseArray(ref reader, ParseNumber(line));
            default: throw new FormatException($"unknown RESP type byte 0x{type:x2}");
        }
    }

    private static RespValue ParseBulk(ref SequenceReader<byte> reader, long length)
    {
        if (length < 0)
            return RespValue.Null;
        if (reader.Remaining < length + 2)
            throw Truncated();
        byte[] bytes = reader.UnreadSequence.Slice(0, length).ToArray();
        reader.Advance(length + 2);
        return RespValue.BulkString(bytes);
    }

    private static RespValue ParseArray(ref SequenceReader<byte> reader, long count)
    {
        if (count < 0)
            return RespValue.Null;
        var elements = new RespValue[count];
        for (long i = 0; i < count; i++)
            elements[i] = ParseElement(ref reader);
        return RespValue.Array(elements);
    }

    private static ReadOnlySequence<byte> ReadLine(ref SequenceReader<byte> reader) =>
        reader.TryReadTo(out ReadOnlySequence<byte> line, "\r\n"u8) ? line : throw Truncated();

    private static long ParseNumber(ReadOnlySequence<byte> line)
    {
        Span<byte> digits = stackalloc byte[24];
        if (line.Length > digits.Length)
            throw new FormatException("RESP number too long");
        line.CopyTo(digits);
        digits = digits[..(int)line.Length];
        return Utf8Parser.TryParse(digits, out long value, out int used) && used == digits.Length
            ? value
            : throw new FormatException($"bad RESP number '{Encoding.ASCII.GetString(digits)}'");
    }

    private static FormatException Truncated() => new("RESP reply ended early");
}
