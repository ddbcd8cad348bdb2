using System.Buffers.Binary;
using EventLoop.Protocol;

namespace EventLoop.Queueing;

/// <summary>
/// A task's arguments kept in one array: a 4-byte count, a 4-byte end offset per argument, then the
/// bytes. One allocation per task, and a worker's copy or a FETCH reply is a walk over it.
/// </summary>
internal static class PackedArguments
{
    public static readonly byte[] None = Pack([]);

    /// <summary>Packs arguments <paramref name="first"/>.. of <paramref name="command"/>.</summary>
    public static byte[] Pack(in RespCommand command, int first)
    {
        int count = Math.Max(0, command.Count - first);
        int bytes = 0;
        for (int i = first; i < command.Count; i++)
            bytes += command[i].Length;
        byte[] packed = new byte[4 + 4 * count + bytes];
        BinaryPrimitives.WriteInt32LittleEndian(packed, count);
        int offset = 4 + 4 * count;
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> argument = command[first + i];
            argument.CopyTo(packed.AsSpan(offset));
            offset += argument.Length;
            BinaryPrimitives.WriteInt32LittleEndian(packed.AsSpan(4 + 4 * i), offset - (4 + 4 * count));
        }
        return packed;
    }

    /// <summary>Packs arguments given as memory (the embedding API).</summary>
    public static byte[] Pack(IReadOnlyList<ReadOnlyMemory<byte>> arguments)
    {
        int count = arguments.Count;
        int bytes = 0;
        foreach (ReadOnlyMemory<byte> argument in arguments)
            bytes += argument.Length;
        byte[] packed = new byte[4 + 4 * count + bytes];
        BinaryPrimitives.WriteInt32LittleEndian(packed, count);
        int offset = 4 + 4 * count;
        for (int i = 0; i < count; i++)
        {
            arguments[i].Span.CopyTo(packed.AsSpan(offset));
            offset += arguments[i].Length;
            BinaryPrimitives.WriteInt32LittleEndian(packed.AsSpan(4 + 4 * i), offset - (4 + 4 * count));
        }
        return packed;
    }

    public static int Count(ReadOnlySpan<byte> packed) => BinaryPrimitives.ReadInt32LittleEndian(packed);

    /// <summary>Argument <paramref name="index"/>.</summary>
    public static ReadOnlySpan<byte> Get(ReadOnlySpan<byte> packed, int index)
    {
        int count = Count(packed);
        int data = 4 + 4 * count;
        int start = index == 0 ? 0 : BinaryPrimitives.ReadInt32LittleEndian(packed[(4 * index)..]);
        int end = BinaryPrimitives.ReadInt32LittleEndian(packed[(4 + 4 * index)..]);
        return packed.Slice(data + start, end - start);
    }

    /// <summary>The argument bytes after the header, all together.</summary>
    public static ReadOnlySpan<byte> Data(ReadOnlySpan<byte> packed) => packed[(4 + 4 * Count(packed))..];

    /// <summary>End offset of argument <paramref name="index"/> within <see cref="Data"/>.</summary>
    public static int End(ReadOnlySpan<byte> packed, int index) => BinaryPrimitives.ReadInt32LittleEndian(packed[(4 + 4 * index)..]);
}
