using System.Diagnostics;
using System.Text;
using EventLoop.Queueing;

namespace EventLoop.Journal;

/// <summary>The journal is damaged before its end and --journal-repair was not given.</summary>
public sealed class JournalCorruptException(string message) : Exception(message);

/// <summary>What a replay found.</summary>
internal sealed class ReplayResult
{
    /// <summary>Where the valid records end: the file is truncated here and appended after.</summary>
    public long ValidEnd;
    public long LastLsn;
    public long Records;
    public long SkippedRecords;
    /// <summary>A torn or corrupt tail cut off: its bytes.</summary>
    public long TruncatedBytes;
    /// <summary>Zeros after the last record (zeros the writer keeps ahead under always, never used): released, not damage.</summary>
    public long UnusedBytes;
    /// <summary>Damaged bytes skipped in the middle (only with repair).</summary>
    public long RepairedBytes;
    public TimeSpan Elapsed;
    public bool CreatedHeader;
}

/// <summary>
/// Reads a journal from its start and applies each record to a <see cref="TaskStore"/> (or to nothing,
/// to check it). A record that ends past the file, or whose length or CRC is wrong, is the tail when no
/// valid record follows it (cut off, logged); otherwise the file is damaged in the middle: refused, or
/// skipped over with <c>repair</c>. Zeros from a record boundary to the end are space the writer zeroed
/// ahead and never used: not damage, cut off without a word. Runs before the reactor serves anyone, on the thread that starts the server.
/// </summary>
internal sealed class JournalReplayer
{
    private const int WindowBytes = 4 * 1024 * 1024;
    private readonly FileStream _file;
    private readonly TaskStore? _store;
    private byte[] _window = new byte[WindowBytes];
    private long _windowOffset;
    private int _windowLength;

    private JournalReplayer(FileStream file, TaskStore? store)
    {
        _file = file;
        _store = store;
    }

    /// <summary>Replays <paramref name="file"/> into <paramref name="store"/>; the caller truncates it at <see cref="ReplayResult.ValidEnd"/>.</summary>
    public static ReplayResult Replay(FileStream file, TaskStore? store, bool repair, string name, Action<string> log)
    {
        var replayer = new JournalReplayer(file, store);
        long started = Stopwatch.GetTimestamp();
        ReplayResult result = replayer.Run(repair, name, log);
        result.Elapsed = Stopwatch.GetElapsedTime(started);
        return result;
    }

    private ReplayResult Run(bool repair, string name, Action<string> log)
    {
        var result = new ReplayResult();
        long length = _file.Length;
        if (length < JournalFormat.HeaderSize)
        {
            if (length > 0)
                log($"journal {name}: {length} byte(s) of a torn header dropped");
            result.CreatedHeader = true;
            result.TruncatedBytes = length;
            return result;
        }
        if (JournalFormat.CheckHeader(At(0, JournalFormat.HeaderSize)) is { } bad)
            throw new JournalCorruptException($"journal {name}: {bad}");
        long position = JournalFormat.HeaderSize;
        while (position < length)
        {
            int size = CheckAt(position, length);
            if (size > 0 && TryApply(At(position, size), result))
            {
                position += size;
                continue;
            }
            if (IsZeroToEnd(position, length))
            {
                result.UnusedBytes = length - position;
                break;
            }
            long next = FindNextValid(position + 1, length, result.LastLsn);
            if (next < 0)
            {
                result.TruncatedBytes = length - position;
                log($"journal {name}: torn or corrupt tail at offset {position}: {length - position} byte(s) in 1 incomplete record dropped ({result.Records} record(s) kept)");
                break;
            }
            if (!repair)
                throw new JournalCorruptException(
                    $"journal {name} is damaged at offset {position}: {next - position} byte(s) cannot be read and valid records follow at offset {next}. " +
                    "Refusing to start; --journal-repair skips the damaged bytes (the changes they held are lost), or restore the file from a backup");
            log($"journal {name}: --journal-repair: skipped {next - position} damaged byte(s) at offset {position}; valid records resume at {next}");
            result.RepairedBytes += next - position;
            position = next;
        }
        result.ValidEnd = Math.Min(position, length);
        return result;
    }

    private int CheckAt(long position, long length)
    {
        ReadOnlySpan<byte> frame = At(position, (int)Math.Min(JournalFormat.FrameSize, length - position));
        if (frame.Length < JournalFormat.FrameSize)
            return 0;
        uint body = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(frame);
        if (body < JournalFormat.MinBody || body > JournalFormat.MaxBody)
            return -1;
        long size = JournalFormat.FrameSize + (long)body;
        if (size > length - position)
            return 0;
        return JournalFormat.Check(At(position, (int)size));
    }

    private bool IsZeroToEnd(long from, long length)
    {
        for (long at = from; at < length; at += WindowBytes)
        {
            if (At(at, (int)Math.Min(WindowBytes, length - at)).ContainsAnyExcept((byte)0))
                return false;
        }
        return true;
    }

    /// <summary>The first offset after <paramref name="from"/> where a valid record with a newer LSN starts, or -1.</summary>
    private long FindNextValid(long from, long length, long lastLsn)
    {
        for (long candidate = from; candidate + JournalFormat.FrameSize + JournalFormat.MinBody <= length; candidate++)
        {
            ReadOnlySpan<byte> head = At(candidate, JournalFormat.FrameSize + JournalFormat.MinBody);
            byte type = head[8];
            if (type is < 1 or > 6)
                continue;
            if (CheckAt(candidate, length) > 0 && System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(head[9..]) > lastLsn)
                return candidate;
        }
        return -1;
    }

    /// <summary>The bytes at <paramref name="offset"/>, at least <paramref name="count"/> of them (the caller checked the file has them).</summary>
    private ReadOnlySpan<byte> At(long offset, int count)
    {
        if (offset < _windowOffset || offset + count > _windowOffset + _windowLength)
        {
            if (_window.Length < count)
                _window = new byte[Math.Max(count, _window.Length * 2)];
            _file.Position = offset;
            _windowOffset = offset;
            _windowLength = 0;
            int read;
            while (_windowLength < _window.Length && (read = _file.Read(_window, _windowLength, _window.Length - _windowLength)) > 0)
                _windowLength += read;
        }
        return _window.AsSpan((int)(offset - _windowOffset), count);
    }

    /// <summary>Applies one checked record; false when its payload does not parse (treated as damage) or its LSN goes back.</summary>
    private bool TryApply(ReadOnlySpan<byte> record, ReplayResult result)
    {
        var reader = new RecordReader(record);
        if (reader.Lsn <= result.LastLsn)
            return false;
        try
        {
            if (!Apply(ref reader))
                result.SkippedRecords++;
            if (!reader.AtEnd)
                return false;
        }
        catch (FormatException)
        {
            return false;
        }
        result.LastLsn = reader.Lsn;
        result.Records++;
        return true;
    }

    /// <summary>False when the record changed nothing (a TaskState for a task not known).</summary>
    private bool Apply(ref RecordReader r)
    {
        switch (r.Type)
        {
            case RecordType.TaskPut:
            {
                long number = r.Long();
                string? namedId = r.String();
                ReadOnlySpan<byte> task = r.Bytes(out _);
                ReadOnlySpan<byte> queue = r.Bytes(out _);
                byte priority = r.Byte();
                int retries = r.Int(), backoff = r.Int(), timeout = r.Int(), ttl = r.Int();
                string? key = r.String();
                long created = r.Long();
                byte[] arguments = r.Bytes(out _).ToArray();
                RestoredState state = ReadState(ref r);
                if (priority >= TaskQueue.Priorities || task.IsEmpty || queue.IsEmpty || (number == 0) == (namedId is null))
                    throw new FormatException("bad TaskPut");
                _store?.RestorePut(number, namedId, task, queue, priority, retries, backoff, timeout, ttl, key, created, arguments, state);
                return true;
            }
            case RecordType.TaskState:
            {
                long number = r.Long();
                string? namedId = r.String();
                RestoredState state = ReadState(ref r);
                return _store?.RestoreState(number, namedId, state) ?? true;
            }
            case RecordType.TaskRemoved:
            {
                long number = r.Long();
                string? namedId = r.String();
                _store?.RestoreRemove(number, namedId);
                return true;
            }
            case RecordType.SchedulePut:
            {
                string name = r.String() ?? throw new FormatException("schedule without a name");
                string spec = r.String() ?? throw new FormatException("schedule without a spec");
                string taskName = r.String() ?? throw new FormatException("schedule without a task");
                string queue = r.String() ?? "default";
                int priority = r.Byte();
                int retries = r.Int(), backoff = r.Int(), timeout = r.Int(), ttl = r.Int();
                byte[] arguments = r.Bytes(out _).ToArray();
                long next = r.Long();
                _store?.RestoreSchedule(name, spec, new TaskTemplate(taskName, queue, priority, retries, backoff, timeout, ttl, arguments), next);
                return true;
            }
            case RecordType.ScheduleRemoved:
                _store?.RestoreScheduleRemoved(r.String() ?? throw new FormatException("schedule without a name"));
                return true;
            case RecordType.QueuePaused:
            {
                ReadOnlySpan<byte> queue = r.Bytes(out _);
                bool paused = r.Byte() != 0;
                _store?.RestorePause(queue, paused);
                return true;
            }
            default:
                throw new FormatException($"unknown record type {(byte)r.Type}");
        }
    }

    private static RestoredState ReadState(ref RecordReader r)
    {
        var state = new RestoredState
        {
            State = (TaskState)r.Byte(),
            Attempt = r.Int(),
            Failures = r.Int(),
            LeaseLosses = r.Int(),
            RunAtMs = r.Long(),
            StartedMs = r.Long(),
            FinishedMs = r.Long(),
            Error = r.String(),
        };
        ReadOnlySpan<byte> result = r.Bytes(out bool isNull);
        state.Result = isNull ? null : result.ToArray();
        if ((int)state.State >= TaskStates.Count)
            throw new FormatException("bad task state");
        return state;
    }

    internal static string Describe(ReplayResult result) =>
        new StringBuilder().Append(result.Records).Append(" record(s) in ").Append(result.Elapsed.TotalMilliseconds.ToString("0", System.Globalization.CultureInfo.InvariantCulture)).Append(" ms").ToString();
}
