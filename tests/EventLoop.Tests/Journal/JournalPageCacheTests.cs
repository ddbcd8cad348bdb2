using System.Runtime.InteropServices;
using EventLoop.Journal;
using EventLoop.Tests.Server;

namespace EventLoop.Tests.Journal;

/// <summary>
/// Between fdatasyncs (everysec, no) the journal's pages leave the page cache by write-behind, a chunk at a time:
/// the cache holds a few chunks of the file, not a second of appends (or, under no, all of them). Measured with
/// mincore(2) on the real file, written by a real server over a real socket.
/// </summary>
public sealed partial class JournalPageCacheTests : IDisposable
{
    private const int MegaByte = 1024 * 1024;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "eventloop-journal-cache-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }

    /// <summary>
    /// Under no nothing is ever fsync'd, so before write-behind every appended page stayed in the cache (dirty until
    /// the kernel's writeback, then clean and kept); everysec takes the same path between its fdatasyncs.
    /// </summary>
    [Fact]
    public async Task AppendsThatNoFsyncCoversDoNotStayInThePageCache()
    {
        const FsyncPolicy policy = FsyncPolicy.No;
        await using var server = new TestServer(new ServerOptions { AppendOnly = true, Dir = _dir, AppendFsync = policy, Workers = 1 });
        using RawConnection client = server.Connect();
        string path = Path.Combine(_dir, TaskJournal.FileName);
        string payload = new('p', 400);
        // About 48 MB of records, pipelined 500 at a time.
        byte[] chunk = Enumerable.Range(0, 500).SelectMany(_ => RawConnection.Encode("SUBMIT", "ext", "QUEUE", "cache", "ARGS", payload)).ToArray();
        while (new FileInfo(path).Length < 48L * MegaByte)
        {
            client.Send(chunk);
            for (int i = 0; i < 500; i++)
                Assert.StartsWith("$", client.ReadReply()); // the id
        }
        // The last chunk or two may still be on their way to the disk; the rest must be gone from the cache.
        long resident = 0;
        for (int attempt = 0; attempt < 100; attempt++)
        {
            resident = ResidentBytes(path);
            if (resident <= 3 * JournalPageCache.WriteBehindBytes)
                break;
            await Task.Delay(100);
        }
        long size = new FileInfo(path).Length;
        Assert.True(resident <= 3 * JournalPageCache.WriteBehindBytes,
            $"{resident / MegaByte} MB of the {size / MegaByte} MB journal stayed in the page cache under {FsyncPolicies.Name(policy)}");
    }

    /// <summary>Bytes of <paramref name="path"/> in the page cache: mincore(2) over a read-only mapping of it.</summary>
    private static long ResidentBytes(string path)
    {
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        long length = RandomAccess.GetLength(file);
        if (length == 0)
            return 0;
        nint map = Mmap(0, (nuint)length, ProtRead, MapShared, (int)file.DangerousGetHandle(), 0);
        Assert.NotEqual(-1, map);
        try
        {
            long page = Environment.SystemPageSize;
            byte[] vector = new byte[(length + page - 1) / page];
            Assert.Equal(0, Mincore(map, (nuint)length, vector));
            return vector.LongCount(b => (b & 1) != 0) * page;
        }
        finally
        {
            Munmap(map, (nuint)length);
        }
    }

    private const int ProtRead = 1;
    private const int MapShared = 1;

    [LibraryImport("libc", EntryPoint = "mmap")]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "mincore")]
    private static partial int Mincore(nint address, nuint length, [Out] byte[] vector);

    [LibraryImport("libc", EntryPoint = "munmap")]
    private static partial int Munmap(nint address, nuint length);
}
