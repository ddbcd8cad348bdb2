using System.Buffers.Binary;
using EventLoop.Buffers;
using EventLoop.Journal;
using EventLoop.Queueing;
using EventLoop.Tasks;
using EventLoop.Timers;

namespace EventLoop.Tests.Journal;

/// <summary>The record format: framing, CRC, every truncation point, every flipped bit, and replay's handling of damage.</summary>
public sealed class JournalFormatTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "eventloop-journal-format-" + Guid.NewGuid().ToString("N"));

    public JournalFormatTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Crc32CMatchesTheKnownCheckValue()
    {
        // The standard check value of CRC-32C (Castagnoli) over "123456789".
        Assert.Equal(0xE3069283u, JournalFormat.Crc32C("123456789"u8));
        Assert.Equal(JournalFormat.Crc32C("123456789"u8), JournalFormat.Crc32C("6789"u8, JournalFormat.Crc32C("12345"u8)));
    }

    [Fact]
    public void HeaderRoundTripsAndRejectsOtherFiles()
    {
        byte[] header = new byte[JournalFormat.HeaderSize];
        JournalFormat.WriteHeader(header);
        Assert.Null(JournalFormat.CheckHeader(header));
        byte[] otherVersion = [.. header];
        BinaryPrimitives.WriteUInt16LittleEndian(otherVersion.AsSpan(8), 1); // fixed-width integers: read by no build now
        BinaryPrimitives.WriteUInt32LittleEndian(otherVersion.AsSpan(12), JournalFormat.Crc32C(otherVersion.AsSpan(0, 12)));
        Assert.Contains("version 1 is not supported", JournalFormat.CheckHeader(otherVersion));
        byte[] notOurs = [.. header];
        notOurs[0] = (byte)'X';
        Assert.Contains("bad magic", JournalFormat.CheckHeader(notOurs));
    }

    [Theory]
    [InlineData(0L, 1)]
    [InlineData(-1L, 1)]
    [InlineData(63L, 1)]
    [InlineData(-64L, 1)]
    [InlineData(64L, 2)]
    [InlineData(1_764_621_234_567L, 6)] // a timestamp in ms
    [InlineData(int.MinValue, 5)]
    [InlineData(long.MaxValue, 10)]
    [InlineData(long.MinValue, 10)]
    public void VarintsRoundTripInTheirSize(long value, int bytes)
    {
        byte[] buffer = new byte[64];
        var writer = new RecordWriter(buffer, RecordType.TaskRemoved, lsn: 7);
        writer.Long(value);
        int size = writer.Finish();
        Assert.Equal(JournalFormat.FrameSize + JournalFormat.MinBody + bytes, size);
        Assert.Equal(size, JournalFormat.Check(buffer.AsSpan(0, size)));
        var reader = new RecordReader(buffer.AsSpan(0, size));
        Assert.Equal(value, reader.Long());
        Assert.True(reader.AtEnd);
    }

    [Fact]
    public void StringsOfEveryLengthClassRoundTripWithinTheirBound()
    {
        string[] values = ["", "default", new string('q', 21), "ünïcödé-ünïcödé-ünïcödé", new string('x', 300), string.Concat(Enumerable.Repeat("€", 400))];
        foreach (string value in values)
        {
            byte[] buffer = new byte[JournalFormat.FrameSize + JournalFormat.MinBody + JournalFormat.StringBound(value) + JournalFormat.StringBound(null)];
            var writer = new RecordWriter(buffer, RecordType.ScheduleRemoved, lsn: 1);
            writer.String(value);
            writer.String(null);
            int size = writer.Finish();
            var reader = new RecordReader(buffer.AsSpan(0, size));
            Assert.Equal(value, reader.String());
            Assert.Null(reader.String());
            Assert.True(reader.AtEnd);
        }
    }

    [Fact]
    public void AVarintTooLongOrOutOfRangeIsDamage()
    {
        byte[] buffer = new byte[64];
        var writer = new RecordWriter(buffer, RecordType.TaskRemoved, lsn: 1);
        for (int i = 0; i < 11; i++)
            writer.Byte(0x80);
        writer.Byte(0);
        int size = writer.Finish();
        Assert.Throws<FormatException>(() => new RecordReader(buffer.AsSpan(0, size)).Long());
        writer = new RecordWriter(buffer, RecordType.TaskRemoved, lsn: 1);
        writer.Long(int.MaxValue + 1L);
        size = writer.Finish();
        Assert.Throws<FormatException>(() => new RecordReader(buffer.AsSpan(0, size)).Int());
        writer = new RecordWriter(buffer, RecordType.TaskRemoved, lsn: 1);
        writer.Byte(0x80); // a varint the record ends inside
        size = writer.Finish();
        Assert.Throws<FormatException>(() => new RecordReader(buffer.AsSpan(0, size)).Long());
    }

    [Fact]
    public void EveryTruncationPointOfARecordIsTornNeverValid()
    {
        byte[] record = SampleRecord();
        Assert.Equal(record.Length, JournalFormat.Check(record));
        for (int length = 0; length < record.Length; length++)
            Assert.Equal(0, JournalFormat.Check(record.AsSpan(0, length)));
    }

    [Fact]
    public void EveryFlippedBitOfARecordIsCaught()
    {
        byte[] record = SampleRecord();
        for (int bit = 0; bit < record.Length * 8; bit++)
        {
            byte[] damaged = [.. record];
            damaged[bit / 8] ^= (byte)(1 << (bit % 8));
            int check = JournalFormat.Check(damaged);
            // A flip in the length can make the record look longer than the bytes there (torn); never valid.
            Assert.True(check <= 0, $"bit {bit} flipped and the record still checks");
        }
    }

    [Fact]
    public void ReplayCutsATornTailAtEveryTruncationPointOfTheLastRecord()
    {
        (byte[] file, List<int> boundaries) = SampleJournal(records: 5);
        int lastStart = boundaries[^2];
        for (int cut = lastStart + 1; cut < file.Length; cut++)
        {
            ReplayResult result = ReplayBytes(file.AsSpan(0, cut).ToArray(), repair: false, out List<string> log);
            Assert.Equal(lastStart, result.ValidEnd);
            Assert.Equal(4, result.Records);
            Assert.Equal(cut - lastStart, result.TruncatedBytes);
            Assert.Single(log, line => line.Contains("torn or corrupt tail") && line.Contains($"{cut - lastStart} byte(s)"));
        }
    }

    [Fact]
    public void ReplayTreatsADamagedLastRecordAsTheTail()
    {
        (byte[] file, List<int> boundaries) = SampleJournal(records: 5);
        file[boundaries[^2] + 12] ^= 0x40;
        ReplayResult result = ReplayBytes(file, repair: false, out _);
        Assert.Equal(boundaries[^2], result.ValidEnd);
        Assert.Equal(4, result.Records);
    }

    [Fact]
    public void DamageInTheMiddleRefusesToStartUnlessRepairing()
    {
        (byte[] file, List<int> boundaries) = SampleJournal(records: 5);
        file[boundaries[1] + 20] ^= 0x01; // the second record
        var refused = Assert.Throws<JournalCorruptException>(() => ReplayBytes(file, repair: false, out _));
        Assert.Contains($"damaged at offset {boundaries[1]}", refused.Message);
        Assert.Contains("--journal-repair", refused.Message);
        ReplayResult repaired = ReplayBytes(file, repair: true, out List<string> log);
        Assert.Equal(4, repaired.Records);
        Assert.Equal(boundaries[2] - boundaries[1], repaired.RepairedBytes);
        Assert.Equal(file.Length, repaired.ValidEnd);
        Assert.Contains(log, line => line.Contains("--journal-repair: skipped"));
    }

    [Fact]
    public void ZerosAfterTheLastRecordAreUnusedSpaceNotDamage()
    {
        // Under always the writer keeps zeros ahead of its writes: a crash leaves them after the last record.
        (byte[] records, List<int> boundaries) = SampleJournal(records: 5);
        byte[] file = [.. records, .. new byte[(int)JournalWriter.ZeroAheadBytes + 3]];
        ReplayResult result = ReplayBytes(file, repair: false, out List<string> log);
        Assert.Equal(5, result.Records);
        Assert.Equal(boundaries[^1], result.ValidEnd);
        Assert.Equal(0, result.TruncatedBytes);
        Assert.Equal(file.Length - records.Length, result.UnusedBytes);
        Assert.Empty(log);
    }

    [Fact]
    public void ARecordTornInsideTheAllocatedSpaceIsTheTornTail()
    {
        (byte[] records, List<int> boundaries) = SampleJournal(records: 5);
        int lastStart = boundaries[^2];
        for (int cut = lastStart + 1; cut < records.Length; cut++)
        {
            byte[] file = [.. records.AsSpan(0, cut), .. new byte[4096]];
            ReplayResult result = ReplayBytes(file, repair: false, out List<string> log);
            Assert.Equal(lastStart, result.ValidEnd);
            Assert.Equal(4, result.Records);
            Assert.Equal(file.Length - lastStart, result.TruncatedBytes);
            Assert.Single(log, line => line.Contains("torn or corrupt tail"));
        }
    }

    [Fact]
    public void ZerosFollowedByRecordsAreDamageInTheMiddle()
    {
        (byte[] records, List<int> boundaries) = SampleJournal(records: 5);
        byte[] file = [.. records.AsSpan(0, boundaries[2]), .. new byte[512], .. records.AsSpan(boundaries[2])];
        var refused = Assert.Throws<JournalCorruptException>(() => ReplayBytes(file, repair: false, out _));
        Assert.Contains($"damaged at offset {boundaries[2]}", refused.Message);
    }

    [Fact]
    public void AShortHeaderIsReplacedAndAForeignFileIsRefused()
    {
        ReplayResult result = ReplayBytes([0x45, 0x56, 0x4C], repair: false, out _);
        Assert.True(result.CreatedHeader);
        Assert.Throws<JournalCorruptException>(() => ReplayBytes(new byte[64], repair: false, out _));
    }

    /// <summary>One TaskRemoved-sized record with a non-trivial payload.</summary>
    private static byte[] SampleRecord()
    {
        const string id = "nightly@1764621234567";
        byte[] record = new byte[64];
        var writer = new RecordWriter(record, RecordType.TaskRemoved, lsn: 42);
        writer.Long(0);
        writer.String(id);
        return record[..writer.Finish()];
    }

    /// <summary>A journal of <paramref name="records"/> TaskRemoved records for unknown ids (harmless to replay); boundaries of each record and the end.</summary>
    private static (byte[] File, List<int> Boundaries) SampleJournal(int records)
    {
        var bytes = new List<byte>();
        byte[] header = new byte[JournalFormat.HeaderSize];
        JournalFormat.WriteHeader(header);
        bytes.AddRange(header);
        var boundaries = new List<int>();
        for (int i = 1; i <= records; i++)
        {
            boundaries.Add(bytes.Count);
            string id = $"s{i}@{1000 + i}";
            byte[] record = new byte[64];
            var writer = new RecordWriter(record, RecordType.TaskRemoved, lsn: i);
            writer.Long(0);
            writer.String(id);
            bytes.AddRange(record.AsSpan(0, writer.Finish()));
        }
        boundaries.Add(bytes.Count);
        return ([.. bytes], boundaries);
    }

    private ReplayResult ReplayBytes(byte[] file, bool repair, out List<string> log)
    {
        string path = Path.Combine(_dir, Guid.NewGuid().ToString("N"));
        File.WriteAllBytes(path, file);
        var lines = new List<string>();
        log = lines;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read);
        var store = new TaskStore(new ServerOptions(), new TaskRegistry(), new TimerHeap(), new QueueClock(), lines.Add);
        return JournalReplayer.Replay(stream, store, repair, path, lines.Add);
    }
}
