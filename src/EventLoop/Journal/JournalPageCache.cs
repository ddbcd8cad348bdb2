using Microsoft.Win32.SafeHandles;
using Tmds.Linux;

namespace EventLoop.Journal;

/// <summary>
/// Keeps one journal file's pages in the page cache few (journal thread only). Nothing reads the journal while the
/// server runs, so pages already on disk are dropped; the next appends then reuse recently freed pages instead of
/// growing the cache into fresh memory, which on this VM made the append's copy several times slower.
/// </summary>
/// <remarks>
/// Two ways down: after an fdatasync (<see cref="Release"/>: its pages are clean), and, for writes no fdatasync
/// will cover soon (everysec, no, a rewrite's new file), write-behind (<see cref="WriteBehind"/>): every
/// <see cref="WriteBehindBytes"/>, wait for the writeback started a chunk earlier (done by then, as a rule), drop
/// those pages, and start the next chunk's. sync_file_range writes data only and flushes no disk cache: it
/// promises nothing; the policy's fdatasync is what makes the file durable. Only whole pages below the writes are
/// touched, so the page the next append goes to is never under writeback (the append would wait for it) and never
/// read back from disk.
/// </remarks>
internal sealed class JournalPageCache(long start)
{
    /// <summary>Write-behind's chunk: at most about two of these are in the cache (one under writeback, one being written).</summary>
    internal const long WriteBehindBytes = 4 * 1024 * 1024;
    /// <summary>fdatasync'd bytes gathered before they are dropped in one call.</summary>
    private const long ReleaseBytes = 1024 * 1024;
    private static readonly long PageMask = ~(long)(Environment.SystemPageSize - 1);

    // Writeback was started below _started; pages below _releasedTo were dropped.
    private long _started = start;
    private long _releasedTo = start;

    /// <summary>Writes up to here make <see cref="WriteBehind"/> do something.</summary>
    public long NextWriteBehindAt => _started + WriteBehindBytes;

    /// <summary>Drops the pages below <paramref name="synced"/> (fdatasync'd, so clean), a megabyte or more at a time.</summary>
    public void Release(SafeFileHandle file, long synced)
    {
        long end = synced & PageMask;
        if (end - _releasedTo < ReleaseBytes)
            return;
        LibC.posix_fadvise((int)file.DangerousGetHandle(), _releasedTo, end - _releasedTo, LibC.POSIX_FADV_DONTNEED);
        _releasedTo = end;
        _started = Math.Max(_started, end);
    }

    /// <summary>
    /// Written (not fsync'd) below <paramref name="written"/>: once a chunk has gathered, waits for the previous
    /// chunk's writeback, drops it, and starts this one's. Failures are left to the next fdatasync to report.
    /// </summary>
    public void WriteBehind(SafeFileHandle file, long written)
    {
        long end = written & PageMask;
        if (end - _started < WriteBehindBytes)
            return;
        int fd = (int)file.DangerousGetHandle();
        if (_started > _releasedTo
            && LibC.sync_file_range(fd, _releasedTo, _started - _releasedTo,
                (uint)(LibC.SYNC_FILE_RANGE_WAIT_BEFORE | LibC.SYNC_FILE_RANGE_WRITE | LibC.SYNC_FILE_RANGE_WAIT_AFTER)) == 0)
        {
            LibC.posix_fadvise(fd, _releasedTo, _started - _releasedTo, LibC.POSIX_FADV_DONTNEED);
            _releasedTo = _started;
        }
        LibC.sync_file_range(fd, _started, end - _started, (uint)LibC.SYNC_FILE_RANGE_WRITE);
        _started = end;
    }
}
