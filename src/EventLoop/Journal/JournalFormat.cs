using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;

namespace EventLoop.Journal;

/// <summary>What a journal record says (docs/journal.md describes each payload byte by byte).</summary>
internal enum RecordType : byte
{
    /// <summary>A task with everything it was submitted with and its whole current state.</summary>
    TaskPut = 1,
    /// <summary>A known task is now in this state (state fields and, on success, the result).</summary>
    TaskState = 2,
    /// <summary>A task is gone (its result expired, or DEAD DROP).</summary>
    TaskRemoved = 3,
    /// <summary>A schedule was added or replaced, or fired (its next fire time moved).</summary>
    SchedulePut = 4,
    ScheduleRemoved = 5,
    /// <summary>A queue was paused or resumed.</summary>
    QueuePaused = 6,
}

/// <summary>
/// The journal's bytes: a 16-byte versioned header, then records, each <c>length (u32) · CRC-32C (u32) ·
/// type (u8) · LSN (u64) · payload</c>, little-endian. The CRC covers the length and everything after the
/// CRC, so a torn write, a flipped bit or a garbage length is caught before the payload is read. Payload
/// integers and lengths are varints (<see cref="RecordWriter.Long"/>): most are small or zero, and every
/// byte a record saves is a byte the reactor's write copies into the page cache and the fsync writes.
/// </summary>
internal static class JournalFormat
{
    public const int HeaderSize = 16;
    public const ushort Version = 2;
    /// <summary>Length prefix and CRC.</summary>
    public const int FrameSize = 8;
    /// <summary>Type and LSN: the smallest body.</summary>
    public const int MinBody = 9;
    /// <summary>Largest body accepted on reading: a 16 MiB result or argument list plus its task's other fields.</summary>
    public const int MaxBody = 256 * 1024 * 1024;

    private static ReadOnlySpan<byte> Magic => "EVLJRNL\0"u8;

    public static void WriteHeader(Span<byte> header)
    {
        Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt16LittleEndian(header[8..], Version);
        BinaryPrimitives.WriteUInt16LittleEndian(header[10..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], Crc32C(header[..12]));
    }

    /// <summary>Null when the header is valid; otherwise why not.</summary>
    public static string? CheckHeader(ReadOnlySpan<byte> header)
    {
        if (header.Length < HeaderSize || !header[..8].SequenceEqual(Magic))
            return "not an EventLoop journal (bad magic)";
        if (BinaryPrimitives.ReadUInt32LittleEndian(header[12..]) != Crc32C(header[..12]))
            return "journal header checksum mismatch";
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(header[8..]);
        return version == Version ? null : $"journal version {version} is not supported (this build reads version {Version})";
    }

    /// <summary>CRC-32C (Castagnoli) of <paramref name="data"/>, continuing from <paramref name="crc"/> (start with 0).</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data, uint crc = 0)
    {
        uint state = ~crc;
        while (data.Length >= 8)
        {
            state = BitOperations.Crc32C(state, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (byte b in data)
            state = BitOperations.Crc32C(state, b);
        return ~state;
    }

    /// <summary>The CRC of a record: over its length prefix and its body.</summary>
    public static uint RecordCrc(ReadOnlySpan<byte> record) => Crc32C(record[FrameSize..], Crc32C(record[..4]));

    /// <summary>
    /// Checks the record at the start of <paramref name="data"/>: its total size (frame included) when it is
    /// complete and its CRC matches; 0 when <paramref name="data"/> ends before the record does (torn); -1 when
    /// it is corrupt (impossible length or CRC mismatch).
    /// </summary>
    public static int Check(ReadOnlySpan<byte> data)
    {
        if (data.Length < FrameSize)
            return 0;
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(data);
        if (length < MinBody || length > MaxBody)
            return -1;
        if (data.Length - FrameSize < length)
            return 0;
        int size = FrameSize + (int)length;
        return BinaryPrimitives.ReadUInt32LittleEndian(data[4..]) == RecordCrc(data[..size]) ? size : -1;
    }

    /// <summary>The most bytes a varint of an <see cref="int"/> takes.</summary>
    public const int MaxIntSize = 5;
    /// <summary>The most bytes a varint of a <see cref="long"/> takes.</summary>
    public const int MaxLongSize = 10;
    /// <summary>Strings up to this many chars are bounded by 3 bytes a char instead of being counted.</summary>
    private const int CountedAbove = 256;

    /// <summary>At least the bytes <see cref="RecordWriter.String"/> writes for <paramref name="value"/>: records are bounded first, then written in place.</summary>
    public static int StringBound(string? value) =>
        MaxIntSize + (value is null ? 0 : value.Length <= CountedAbove ? 3 * value.Length : Encoding.UTF8.GetByteCount(value));

    public static int BytesBound(ReadOnlySpan<byte> value) => MaxIntSize + value.Length;
}

/// <summary>Writes one record's fields into a span at least as long as their bound; <see cref="Finish"/> frames them.</summary>
internal ref struct RecordWriter
{
    /// <summary>Strings up to this many chars take at most 63 UTF-8 bytes: their length is a one-byte varint.</summary>
    private const int OneByteLengthChars = 21;
    private readonly Span<byte> _record;
    private int _position;

    /// <summary>Starts a record at the start of <paramref name="destination"/>, which must hold its bound.</summary>
    public RecordWriter(Span<byte> destination, RecordType type, long lsn)
    {
        _record = destination;
        _record[8] = (byte)type;
        BinaryPrimitives.WriteInt64LittleEndian(_record[9..], lsn);
        _position = JournalFormat.FrameSize + JournalFormat.MinBody;
    }

    public void Byte(byte value) => _record[_position++] = value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Int(int value) => Long(value);

    /// <summary>
    /// A signed varint: zigzag (0, -1, 1, -2… become 0, 1, 2, 3…) then LEB128, seven bits a byte, low bits first,
    /// the high bit set on every byte but the last: protobuf's <c>sint64</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Long(long value)
    {
        ulong zigzag = (ulong)((value << 1) ^ (value >> 63));
        if (zigzag < 0x80)
            _record[_position++] = (byte)zigzag; // most fields: zeros, small counts, null lengths
        else
            _position += WriteVarint(_record[_position..], zigzag);
    }

    private static int WriteVarint(Span<byte> destination, ulong zigzag)
    {
        int count = 0;
        while (zigzag >= 0x80)
        {
            destination[count++] = (byte)(zigzag | 0x80);
            zigzag >>= 7;
        }
        destination[count++] = (byte)zigzag;
        return count;
    }

    /// <summary>Length-prefixed UTF-8; null is length -1.</summary>
    public void String(string? value)
    {
        if (value is null)
        {
            Int(-1);
            return;
        }
        if (value.Length <= OneByteLengthChars)
        {
            int length = Encoding.UTF8.GetBytes(value, _record[(_position + 1)..]);
            _record[_position] = (byte)(length << 1); // the zigzag varint of a length below 64
            _position += 1 + length;
            return;
        }
        int count = Encoding.UTF8.GetByteCount(value);
        Int(count);
        _position += Encoding.UTF8.GetBytes(value, _record[_position..]);
    }

    /// <summary>A string already encoded as UTF-8: the same bytes <see cref="String"/> writes for it.</summary>
    public void Utf8(ReadOnlySpan<byte> value) => Bytes(value);

    /// <summary>Length-prefixed bytes; <paramref name="isNull"/> writes length -1.</summary>
    public void Bytes(ReadOnlySpan<byte> value, bool isNull = false)
    {
        if (isNull)
        {
            Int(-1);
            return;
        }
        Int(value.Length);
        value.CopyTo(_record[_position..]);
        _position += value.Length;
    }

    /// <summary>Seals the record with its length and CRC; returns its size.</summary>
    public int Finish()
    {
        Span<byte> record = _record[.._position];
        BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)(_position - JournalFormat.FrameSize));
        BinaryPrimitives.WriteUInt32LittleEndian(record[4..], JournalFormat.RecordCrc(record));
        return _position;
    }
}

/// <summary>Reads one record's fields; a field running past the record throws <see cref="FormatException"/>.</summary>
internal ref struct RecordReader
{
    private readonly ReadOnlySpan<byte> _record;
    private int _position;

    public RecordReader(ReadOnlySpan<byte> record)
    {
        _record = record;
        Type = (RecordType)record[8];
        Lsn = BinaryPrimitives.ReadInt64LittleEndian(record[9..]);
        _position = JournalFormat.FrameSize + JournalFormat.MinBody;
    }

    public RecordType Type { get; }

    public long Lsn { get; }

    public bool AtEnd => _position == _record.Length;

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || count > _record.Length - _position)
            throw new FormatException("journal record field runs past the record");
        ReadOnlySpan<byte> taken = _record.Slice(_position, count);
        _position += count;
        return taken;
    }

    public byte Byte() => Take(1)[0];

    public int Int()
    {
        long value = Long();
        return value is >= int.MinValue and <= int.MaxValue ? (int)value : throw new FormatException("journal record field out of range");
    }

    /// <summary>A signed varint (<see cref="RecordWriter.Long"/>); more than ten bytes, or one running past the record, is damage.</summary>
    public long Long()
    {
        ReadOnlySpan<byte> rest = _record[_position..];
        ulong zigzag = 0;
        for (int i = 0; i < rest.Length && i < JournalFormat.MaxLongSize; i++)
        {
            byte b = rest[i];
            if (i == JournalFormat.MaxLongSize - 1 && b > 1)
                break; // bits past the 64th
            zigzag |= (ulong)(b & 0x7F) << (7 * i);
            if (b < 0x80)
            {
                _position += i + 1;
                return (long)(zigzag >> 1) ^ -(long)(zigzag & 1);
            }
        }
        throw new FormatException("journal record varint too long, or cut short by the record's end");
    }

    public string? String()
    {
        int length = Int();
        return length < 0 ? null : Encoding.UTF8.GetString(Take(length));
    }

    /// <summary>The bytes of a length-prefixed field (empty for null; <paramref name="isNull"/> tells them apart).</summary>
    public ReadOnlySpan<byte> Bytes(out bool isNull)
    {
        int length = Int();
        isNull = length < 0;
        return isNull ? default : Take(length);
    }
}
