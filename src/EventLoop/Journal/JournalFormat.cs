using System.Buffers.Binary;
using System.Numerics;
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
/// CRC, so a torn write, a flipped bit or a garbage length is caught before the payload is read.
/// </summary>
internal static class JournalFormat
{
    public const int HeaderSize = 16;
    public const ushort Version = 1;
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

    public static int StringSize(string? value) => 4 + (value is null ? 0 : Encoding.UTF8.GetByteCount(value));

    public static int BytesSize(ReadOnlySpan<byte> value) => 4 + value.Length;
}

/// <summary>Writes one record's fields into a span sized for it beforehand.</summary>
internal ref struct RecordWriter
{
    private readonly Span<byte> _record;
    private int _position;

    /// <summary>Starts a record of <paramref name="size"/> bytes (frame included) at the start of <paramref name="destination"/>.</summary>
    public RecordWriter(Span<byte> destination, int size, RecordType type, long lsn)
    {
        _record = destination[..size];
        BinaryPrimitives.WriteUInt32LittleEndian(_record, (uint)(size - JournalFormat.FrameSize));
        _record[8] = (byte)type;
        BinaryPrimitives.WriteInt64LittleEndian(_record[9..], lsn);
        _position = JournalFormat.FrameSize + JournalFormat.MinBody;
    }

    public void Byte(byte value) => _record[_position++] = value;

    public void Int(int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(_record[_position..], value);
        _position += 4;
    }

    public void Long(long value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(_record[_position..], value);
        _position += 8;
    }

    /// <summary>Length-prefixed UTF-8; null is length -1.</summary>
    public void String(string? value)
    {
        if (value is null)
        {
            Int(-1);
            return;
        }
        int length = Encoding.UTF8.GetBytes(value, _record[(_position + 4)..]);
        Int(length);
        _position += length;
    }

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

    /// <summary>Seals the record with its CRC; returns its size.</summary>
    public int Finish()
    {
        if (_position != _record.Length)
            throw new InvalidOperationException($"journal record sized {_record.Length} but {_position} bytes written");
        BinaryPrimitives.WriteUInt32LittleEndian(_record[4..], JournalFormat.RecordCrc(_record));
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

    public int Int() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

    public long Long() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

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
