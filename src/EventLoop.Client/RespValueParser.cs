using System.Buffers;
using System.Text;

namespace EventLoop.Client;

/// <summary>
/// Materialises one complete reply as a <see cref="RespValue"/> tree: the general path, for commands whose replies
/// have no typed reader of their own. Bulk strings are copied, so the tree outlives the receive buffer.
/// </summary>
internal static class RespValueParser
{
    public static RespValue Parse(ReadOnlySequence<byte> reply) =>
        reply.IsSingleSegment ? Parse(reply.FirstSpan) : Parse(reply.ToArray());

    public static RespValue Parse(ReadOnlySpan<byte> reply)
    {
        var reader = new RespSpanReader(reply);
        return ParseElement(ref reader, reply);
    }

    private static RespValue ParseElement(ref RespSpanReader reader, ReadOnlySpan<byte> reply)
    {
        ReadOnlySpan<byte> line = reader.ReadLine(out byte type);
        switch (type)
        {
            case (byte)'+': return RespValue.SimpleString(Encoding.UTF8.GetString(line));
            case (byte)'-': return RespValue.Error(Encoding.UTF8.GetString(line));
            case (byte)':': return RespValue.Integer(RespSpanReader.ParseNumber(line));
            case (byte)'$':
                long length = RespSpanReader.ParseNumber(line);
                if (length < 0)
                    return RespValue.Null;
                (int offset, int size) = reader.ReadBulkBody(length);
                return RespValue.BulkString(reply.Slice(offset, size).ToArray());
            case (byte)'*':
                long count = RespSpanReader.ParseNumber(line);
                if (count < 0)
                    return RespValue.Null;
                var elements = new RespValue[count];
                for (long i = 0; i < count; i++)
                    elements[i] = ParseElement(ref reader, reply);
                return RespValue.ArrayOwning(elements);
            default: throw new FormatException($"unknown RESP type byte 0x{type:x2}");
        }
    }
}
