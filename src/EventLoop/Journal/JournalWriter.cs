using System.Diagnostics;
using EventLoop.Buffers;
using EventLoop.Reactor;
using Microsoft.Win32.SafeHandles;
using Tmds.Linux;

namespace EventLoop.Journal;

/// <summary>When the journal thread calls fdatasync(2).</summary>
public enum FsyncPolicy
{
    /// <summary>After every batch, before its replies leave.</summary>
    Always,
    /// <summary>About once a second, on the journal thread.</summary>
    EverySecond,
    /// <summary>Never: the kernel writes back when it likes.</summary>
    No,
}

/// <summary>One reactor pass's records, handed to the journal thread in one piece.</summary>
internal sealed class JournalBatch
{
    /// <summary>Live records: for the journal, and for the rewrite's new file while one runs.</summary>
    public PooledBuffer Live = new();
    /// <summary>A rewrite's snapshot chunk: for the new file only.</summary>
    public PooledBuffer Snapshot = new();
    /// <summary>The newest LSN in <see cref="Live"/> (the batch's replies wait for it).</summary>
    public long LastLsn;
    public bool BeginRewrite;
    public bool EndRewrite;
}

/// <summary>What the journal thread last reported; read by the reactor after an acknowledgement.</summary>
internal sealed class JournalProgress
{
    /// <summary>Newest LSN written with write(2).</summary>
    public long WrittenLsn;
    /// <summary>Newest LSN fdatasync'd.</summary>
    public long SyncedLsn;
    /// <summary>Newest LSN of a batch whose write or fsync failed (its held replies answer -MISCONF).</summary>
    public long FailedLsn;
    public string? Error;
    public long FileSize;
    public long SyncedOffset;
    public long Fsyncs;
    public long Batches;
    public long BytesWritten;
    /// <summary>Set when a rewrite ended: its file's size (0: it failed and was abandoned).</summary>
    public long RewriteDoneSize = -1;
    public string? RewriteError;

    public JournalProgress Clone() => (JournalProgress)MemberwiseClone();
}

/// <summary>
/// The journal thread: owns the journal file (and a rewrite's new file), writes each batch the reactor
/// hands it with one pwritev(2), fsyncs by policy, and tells the reactor how far it got.
/// </summary>
/// <remarks>
/// The third hand-off point, after the ring and the completion queue: batches go in through
/// <see cref="Hand"/> (a lock around a list, taken once per reactor pass, not per record, which also
/// gives back the next empty batch), and progress comes back through the reactor's completion queue (one
/// reused posted item, pushed only when none is queued), so the reactor never waits on the disk.
/// The thread sleeps in poll(2) on an eventfd that is written only when it may be asleep (the reactor's
/// wake-up protocol), after the lock is released: a wake-up never finds the lock still held by the
/// waker, which on one CPU cost two extra context switches per batch with Monitor.Wait/Pulse.
/// A failed write is truncated back and retried (every batch, and every 200 ms) until it succeeds;
/// nothing is dropped while it fails.
/// The journal's pages leave the page cache once on disk (<see cref="JournalPageCache"/>): after each
/// fdatasync, and between them (everysec, no) by write-behind, a chunk at a time.
/// Under <c>always</c> the file holds written zeros ahead of the writes (<see cref="ZeroAheadBytes"/>), so an
/// append changes no size and no extent, and its fdatasync writes the data alone (docs/journal.md says what each
/// promises).
/// </remarks>
internal sealed class JournalWriter : IDisposable
{
    /// <summary>Under always: how far ahead of the writes the file holds zeros, refilled when half is used.</summary>
    internal const long ZeroAheadBytes = 1024 * 1024;
    private static readonly ReadOnlyMemory<byte> Zeros = new byte[64 * 1024];
    private static readonly long PageMask = ~(long)(Environment.SystemPageSize - 1);

    private readonly object _gate = new();
    private readonly List<JournalBatch> _incoming = [];
    private readonly Stack<JournalBatch> _free = new();
    private readonly List<JournalBatch> _pending = [];
    private readonly List<ReadOnlyMemory<byte>> _main = [];
    private readonly List<ReadOnlyMemory<byte>> _rewrite = [];
    private readonly List<ReadOnlyMemory<byte>> _direct = [];
    private readonly List<ReadOnlyMemory<byte>> _zeros = [];
    private readonly string _path;
    private readonly string _rewritePath;
    private readonly FsyncPolicy _policy;
    private readonly Action _notify;
    private readonly Thread _thread;
    private readonly long[] _fsyncMicros = new long[1024];
    private readonly ReactorWakeup _wake = new();
    private long _fsyncSamples;
    private SafeFileHandle _file;
    private SafeFileHandle? _next;
    private long _offset;
    private long _nextOffset;
    private JournalPageCache _nextCache = new(0);
    private long _lastSync = Stopwatch.GetTimestamp();
    // The journal file holds written zeros up to here (always); the next attempt after a failed one waits for this offset.
    private long _zeroedEnd;
    private long _zeroRetryAt;
    private JournalPageCache _cache = new(0);
    // Guarded by the lock: under everysec and no, a write reaching this offset wakes the thread for write-behind.
    private long _writeBehindAt;
    private bool _stop;
    // The thread has taken batches and not finished with them: the reactor must not write the file itself.
    private bool _busy;

    public JournalWriter(string path, SafeFileHandle file, long offset, long lastLsn, FsyncPolicy policy, Action notify)
    {
        _path = path;
        _rewritePath = path + ".rewrite";
        _file = file;
        _offset = offset;
        _policy = policy;
        _notify = notify;
        Progress.WrittenLsn = Progress.SyncedLsn = lastLsn;
        Progress.FileSize = Progress.SyncedOffset = offset;
        _zeroedEnd = offset;
        _cache.Release(file, offset); // what replay read: the file was fsync'd before the writer was made
        _writeBehindAt = _cache.NextWriteBehindAt;
        _thread = new Thread(Run) { IsBackground = true, Name = "eventloop-journal" };
        _thread.Start();
    }

    /// <summary>Guarded by the writer's lock: copy out with <see cref="Snapshot"/>.</summary>
    private JournalProgress Progress { get; } = new();

    /// <summary>Reactor: an empty batch to fill (reused).</summary>
    public JournalBatch Rent()
    {
        lock (_gate)
            return RentLocked();
    }

    /// <summary>Reactor: hands a filled batch to the journal thread; returns the next empty one (one lock for both).</summary>
    public JournalBatch Hand(JournalBatch batch)
    {
        JournalBatch next;
        lock (_gate)
        {
            _incoming.Add(batch);
            next = RentLocked();
        }
        _wake.Wake();
        return next;
    }

    private JournalBatch RentLocked() => _free.TryPop(out JournalBatch? batch) ? batch : new JournalBatch();

    /// <summary>
    /// Reactor, under <c>everysec</c> and <c>no</c>: writes <paramref name="batch"/> itself, with one pwrite at the
    /// end of the pass (Redis's beforeSleep write), when the journal thread has nothing in hand (no batch, no
    /// rewrite, no failure to retry); the batch is then empty again and stays the reactor's. False: hand it
    /// to the thread instead (a failed write is truncated back, and the thread retries and reports it).
    /// Done under the writer's lock, so the thread never touches the file offset meanwhile (its fdatasync may
    /// run concurrently, which is safe).
    /// </summary>
    public bool TryWriteDirect(JournalBatch batch, out long fileSize)
    {
        bool writeBehind;
        lock (_gate)
        {
            fileSize = _offset;
            if (_busy || _incoming.Count > 0 || _pending.Count > 0 || _next is not null || Progress.Error is not null
                || batch.BeginRewrite || batch.EndRewrite || batch.Snapshot.Length > 0)
                return false;
            _direct.Clear();
            _direct.Add(batch.Live.WrittenMemory);
            bool written = TryWrite(_file, ref _offset, _direct, out _);
            _direct.Clear();
            if (!written)
                return false;
            Progress.WrittenLsn = Math.Max(Progress.WrittenLsn, batch.LastLsn);
            Progress.FileSize = fileSize = _offset;
            Progress.Batches++;
            batch.Live.Clear();
            batch.LastLsn = 0;
            writeBehind = _offset >= _writeBehindAt;
        }
        if (writeBehind)
            _wake.Wake(); // a system call only when the thread sleeps: about once a write-behind chunk
        return true;
    }

    /// <summary>Any thread: a consistent copy of the progress, with the rewrite outcome taken (reported once).</summary>
    public JournalProgress Snapshot(bool takeRewrite)
    {
        lock (_gate)
        {
            JournalProgress copy = Progress.Clone();
            if (takeRewrite)
            {
                Progress.RewriteDoneSize = -1;
                Progress.RewriteError = null;
            }
            return copy;
        }
    }

    /// <summary>fdatasync latency percentile in µs over the last 1,024 calls (0 when none).</summary>
    public long FsyncPercentile(double p)
    {
        long[] samples;
        lock (_gate)
            samples = _fsyncMicros.Take((int)Math.Min(_fsyncSamples, _fsyncMicros.Length)).ToArray();
        if (samples.Length == 0)
            return 0;
        Array.Sort(samples);
        return samples[Math.Min(samples.Length - 1, (int)(p * samples.Length))];
    }

    /// <summary>Writes what is handed, fsyncs, closes. The reactor has handed its last batch.</summary>
    public void Dispose()
    {
        lock (_gate)
            _stop = true;
        _wake.Wake();
        _thread.Join();
        _wake.Dispose();
        _next?.Dispose();
        try
        {
            // A clean stop leaves no unused zeroed tail, nor the part of a refill that failed.
            if (RandomAccess.GetLength(_file) > _offset)
                RandomAccess.SetLength(_file, _offset);
        }
        catch (IOException)
        {
            // Replay recognizes the zeros past the last record anyway.
        }
        _file.Dispose();
    }

    private void Run()
    {
        while (true)
        {
            WaitForWork();
            bool stop;
            lock (_gate)
            {
                _pending.AddRange(_incoming);
                _incoming.Clear();
                _busy = _pending.Count > 0;
                stop = _stop;
            }
            bool handed = _busy;
            WritePending();
            if (_policy == FsyncPolicy.Always || SyncDue() || stop)
                Sync();
            else
                WriteBehind();
            lock (_gate)
                _busy = _pending.Count > 0;
            if (handed || _policy != FsyncPolicy.No)
                _notify();
            if (stop)
                return; // with batches still pending, they cannot be written: the reactor has reported the error
        }
    }

    /// <summary>
    /// Sleeps until a batch is handed or the writer stops; under everysec also until a second after the last
    /// fdatasync when something is unsynced (the reactor's own writes do not wake the thread); while a write
    /// is failing, 200 ms at most before the retry.
    /// </summary>
    private unsafe void WaitForWork()
    {
        while (true)
        {
            int timeoutMs;
            bool retrying;
            _wake.PrepareToSleep();
            lock (_gate)
            {
                if (_incoming.Count > 0 || _stop || SyncDueLocked() || _policy != FsyncPolicy.Always && _offset >= _writeBehindAt)
                {
                    _wake.Awake();
                    return;
                }
                retrying = _pending.Count > 0;
                timeoutMs = retrying ? 200
                    : _policy != FsyncPolicy.EverySecond ? -1
                    : Progress.SyncedLsn < Progress.WrittenLsn ? Math.Max(1, 1000 - (int)Stopwatch.GetElapsedTime(_lastSync).TotalMilliseconds)
                    : 1000;
            }
            var wait = new pollfd { fd = _wake.Fd, events = LibC.POLLIN };
            LibC.poll(&wait, 1, timeoutMs);
            _wake.Awake();
            _wake.Drain();
            if (retrying)
                return; // failing: retry now, whether more came or the time passed
        }
    }

    private bool SyncDue()
    {
        lock (_gate)
            return SyncDueLocked();
    }

    private bool SyncDueLocked() =>
        _policy == FsyncPolicy.EverySecond && Progress.SyncedLsn < Progress.WrittenLsn
        && Stopwatch.GetElapsedTime(_lastSync) >= TimeSpan.FromSeconds(1);

    /// <summary>
    /// Writes every pending batch in order: runs of batches with one pwritev each (to the journal, and to the
    /// rewrite's file while one runs), a rewrite beginning before its first batch and ending after its last.
    /// </summary>
    private void WritePending()
    {
        while (_pending.Count > 0)
        {
            if (_pending[0].BeginRewrite)
            {
                _pending[0].BeginRewrite = false;
                if (_next is null)
                    BeginRewrite();
            }
            int count = 0;
            bool end = false;
            while (count < _pending.Count && !end)
            {
                JournalBatch batch = _pending[count];
                if (count > 0 && batch.BeginRewrite)
                    break;
                if (batch.Live.Length > 0)
                    _main.Add(batch.Live.WrittenMemory);
                if (_next is not null)
                {
                    if (batch.Live.Length > 0)
                        _rewrite.Add(batch.Live.WrittenMemory);
                    if (batch.Snapshot.Length > 0)
                        _rewrite.Add(batch.Snapshot.WrittenMemory);
                }
                end = batch.EndRewrite;
                count++;
            }
            if (!Flush(count))
                return;
            if (end)
                EndRewrite();
        }
    }

    /// <summary>Writes the gathered segments of batches before <paramref name="upTo"/>; on success they are done.</summary>
    private bool Flush(int upTo)
    {
        long lastLsn = 0;
        for (int i = 0; i < upTo; i++)
            lastLsn = Math.Max(lastLsn, _pending[i].LastLsn);
        if (_main.Count > 0 && !TryWrite(_file, ref _offset, _main, out string? error))
        {
            _zeroedEnd = _offset; // the failed write's truncation cut the zeroed tail too
            _main.Clear();
            _rewrite.Clear();
            if (_next is not null)
                AbandonRewrite($"the journal write failed: {error}");
            foreach (JournalBatch batch in _pending)
                batch.Snapshot.Clear();
            lock (_gate)
            {
                Progress.Error = error;
                Progress.FailedLsn = Math.Max(Progress.FailedLsn, _pending.Max(b => b.LastLsn));
            }
            return false;
        }
        _main.Clear();
        ZeroAhead();
        if (_next is not null && _rewrite.Count > 0)
        {
            // The new file is fdatasync'd once, at the end of the rewrite; without write-behind its whole size
            // (200 MB for 10⁶ tasks) would be dirty then, and that one fsync would take seconds while
            // acknowledgements wait behind it on this thread.
            if (TryWrite(_next, ref _nextOffset, _rewrite, out string? rewriteError))
                _nextCache.WriteBehind(_next, _nextOffset);
            else
                AbandonRewrite($"writing the new file failed: {rewriteError}");
        }
        _rewrite.Clear();
        lock (_gate)
        {
            Progress.WrittenLsn = Math.Max(Progress.WrittenLsn, lastLsn);
            Progress.FileSize = _offset;
            Progress.Batches += upTo;
            if (_policy != FsyncPolicy.Always)
                Progress.Error = null; // under always, a later successful fsync clears it
            for (int i = 0; i < upTo; i++)
            {
                JournalBatch done = _pending[i];
                done.Live.Clear();
                done.Snapshot.Clear();
                done.LastLsn = 0;
                done.BeginRewrite = done.EndRewrite = false;
                _free.Push(done);
            }
        }
        _pending.RemoveRange(0, upTo);
        return true;
    }

    /// <summary>
    /// Under always: once less than half of <see cref="ZeroAheadBytes"/> of written zeros is left past the writes,
    /// writes zeros up to that far ahead. An append into them then changes no size and converts no extent, so its
    /// fdatasync writes the data and flushes, two disk requests, where an append into fallocated space also writes
    /// the extent tree and the inode, four (docs/journal.md). The fdatasync after a refill writes the zeros and their
    /// allocation once. A failed refill (disk full, a file size limit) is not an error: the appends then extend the
    /// file as before, and the refill is tried again a chunk later.
    /// </summary>
    private void ZeroAhead()
    {
        if (_policy != FsyncPolicy.Always || _zeroedEnd - _offset >= ZeroAheadBytes / 2 || _offset < _zeroRetryAt)
            return;
        long from = Math.Max(_offset, _zeroedEnd);
        long to = (_offset + ZeroAheadBytes) & PageMask;
        _zeros.Clear();
        for (long at = from; at < to; at += Zeros.Length)
            _zeros.Add(Zeros[..(int)Math.Min(Zeros.Length, to - at)]);
        try
        {
            RandomAccess.Write(_file, _zeros, from);
            _zeroedEnd = to;
        }
        catch (Exception)
        {
            _zeroRetryAt = to; // what was written of the zeros stays: replay reads them as unused space
        }
    }

    /// <summary>
    /// Under everysec and no, between fdatasyncs: the reactor's writes (and this thread's) are written back and
    /// dropped from the page cache a chunk at a time, so the cache does not grow by a second of appends.
    /// </summary>
    private void WriteBehind()
    {
        long written;
        lock (_gate)
            written = _offset;
        _cache.WriteBehind(_file, written); // outside the lock: the reactor's own write takes it
        lock (_gate)
            _writeBehindAt = _cache.NextWriteBehindAt;
    }

    private bool TryWrite(SafeFileHandle file, ref long offset, List<ReadOnlyMemory<byte>> segments, out string? error)
    {
        long bytes = 0;
        foreach (ReadOnlyMemory<byte> segment in segments)
            bytes += segment.Length;
        try
        {
            RandomAccess.Write(file, segments, offset);
            offset += bytes;
            lock (_gate)
                Progress.BytesWritten += bytes;
            error = null;
            return true;
        }
        catch (Exception failed)
        {
            // ENOSPC and EIO arrive as IOException, EFBIG (a file size limit) as ArgumentOutOfRangeException.
            error = failed is ArgumentOutOfRangeException ? "file too large (EFBIG)" : failed.Message;
            try
            {
                RandomAccess.SetLength(file, offset); // drop a partial write: the retry appends at the same place
            }
            catch (Exception)
            {
                // The next successful write overwrites the same range anyway (pwrite at the same offset).
            }
            return false;
        }
    }

    private void Sync()
    {
        long lsn, offset;
        lock (_gate)
        {
            lsn = Progress.WrittenLsn;
            offset = _offset;
            if (Progress.SyncedLsn >= lsn && Progress.SyncedOffset == offset)
                return;
        }
        long started = Stopwatch.GetTimestamp();
        int result = DataSync(_file);
        long micros = (long)Stopwatch.GetElapsedTime(started).TotalMicroseconds;
        _lastSync = Stopwatch.GetTimestamp();
        lock (_gate)
        {
            _fsyncMicros[_fsyncSamples++ % _fsyncMicros.Length] = micros;
            Progress.Fsyncs++;
            if (result == 0)
            {
                Progress.SyncedLsn = lsn;
                Progress.SyncedOffset = offset;
                if (_pending.Count == 0)
                    Progress.Error = null;
            }
            else
            {
                Progress.Error = $"fdatasync failed (errno {Tmds.Linux.LibC.errno})";
                Progress.FailedLsn = Math.Max(Progress.FailedLsn, lsn);
            }
        }
        if (result == 0)
        {
            _cache.Release(_file, offset); // outside the lock: the reactor's own write takes it
            lock (_gate)
                _writeBehindAt = _cache.NextWriteBehindAt;
        }
    }

    private static int DataSync(SafeFileHandle file) => Tmds.Linux.LibC.fdatasync((int)file.DangerousGetHandle());

    private void BeginRewrite()
    {
        try
        {
            _next = File.OpenHandle(_rewritePath, FileMode.Create, FileAccess.ReadWrite, FileShare.Read);
            byte[] header = new byte[JournalFormat.HeaderSize];
            JournalFormat.WriteHeader(header);
            RandomAccess.Write(_next, header, 0);
            _nextOffset = header.Length;
            _nextCache = new JournalPageCache(0);
        }
        catch (Exception failed)
        {
            AbandonRewrite($"cannot create {_rewritePath}: {failed.Message}");
        }
    }

    /// <summary>The new file holds everything: fsync it, rename it over the journal, fsync the directory.</summary>
    private void EndRewrite()
    {
        if (_next is null)
            return;
        try
        {
            if (DataSync(_next) != 0)
                throw new IOException($"fdatasync of the new file failed (errno {Tmds.Linux.LibC.errno})");
            File.Move(_rewritePath, _path, overwrite: true);
            SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(_path))!);
        }
        catch (Exception failed)
        {
            AbandonRewrite(failed.Message);
            return;
        }
        _file.Dispose();
        _file = _next;
        _next = null;
        _offset = _zeroedEnd = _zeroRetryAt = _nextOffset;
        _cache = _nextCache;
        _cache.Release(_file, _offset); // fsync'd whole above
        lock (_gate)
        {
            _writeBehindAt = _cache.NextWriteBehindAt;
            Progress.FileSize = _offset;
            Progress.SyncedOffset = _offset; // the new file was fsync'd whole before the rename
            Progress.SyncedLsn = Progress.WrittenLsn;
            Progress.RewriteDoneSize = _offset;
        }
    }

    private void AbandonRewrite(string reason)
    {
        _next?.Dispose();
        _next = null;
        try
        {
            File.Delete(_rewritePath);
        }
        catch (IOException)
        {
        }
        lock (_gate)
        {
            Progress.RewriteDoneSize = 0;
            Progress.RewriteError = reason;
        }
    }

    internal static unsafe void SyncDirectory(string directory)
    {
        byte[] path = System.Text.Encoding.UTF8.GetBytes(directory + "\0");
        int fd;
        fixed (byte* p = path)
            fd = Tmds.Linux.LibC.open(p, Tmds.Linux.LibC.O_RDONLY | Tmds.Linux.LibC.O_DIRECTORY | Tmds.Linux.LibC.O_CLOEXEC, 0);
        if (fd < 0)
            throw new IOException($"cannot open directory {directory} (errno {Tmds.Linux.LibC.errno})");
        try
        {
            if (Tmds.Linux.LibC.fsync(fd) != 0)
                throw new IOException($"fsync of directory {directory} failed (errno {Tmds.Linux.LibC.errno})");
        }
        finally
        {
            Tmds.Linux.LibC.close(fd);
        }
    }
}

/// <summary>The <c>--appendfsync</c> words (Redis's).</summary>
public static class FsyncPolicies
{
    /// <summary>always, everysec or no.</summary>
    public static string Name(FsyncPolicy policy) => policy switch
    {
        FsyncPolicy.Always => "always",
        FsyncPolicy.EverySecond => "everysec",
        _ => "no",
    };

    /// <summary>Parses always, everysec or no; throws <see cref="FormatException"/> otherwise.</summary>
    public static FsyncPolicy Parse(string value) => value switch
    {
        "always" => FsyncPolicy.Always,
        "everysec" => FsyncPolicy.EverySecond,
        "no" => FsyncPolicy.No,
        _ => throw new FormatException("use always, everysec or no"),
    };
}
