using System.Diagnostics;
using System.Runtime.InteropServices;
using EventLoop.Buffers;
using EventLoop.Queueing;
using EventLoop.Workers;
using Microsoft.Win32.SafeHandles;

namespace EventLoop.Journal;

/// <summary>
/// The append-only journal as the reactor sees it: recovery at start, the records of each pass handed to
/// the <see cref="JournalWriter"/> thread at the end of the pass (group commit), replies that acknowledge
/// a change held until their records are written (and, under <c>always</c>, fsync'd), the background
/// rewrite stepped a chunk per pass, and the figures INFO shows. Reactor-owned, except where noted.
/// </summary>
/// <remarks>
/// What is promised: a reply that acknowledges a change (SUBMIT's id, ACK's +OK…) leaves only after the
/// journal thread's write(2) of the batch holding its records returned, under every policy; so a process
/// crash (kill -9) never loses an acknowledged change. Under <c>always</c> it also waits for that
/// batch's fdatasync, so power loss does not either. Under <c>everysec</c> the thread fdatasyncs about once
/// a second: power loss can lose about the last second of acknowledged changes; under <c>no</c>, whatever
/// the kernel had not written back. Changes nobody was told of yet (a handler's result, a timer's
/// transition) may be lost by a crash in the pass they happened in; a task that was running comes back
/// queued, as a new attempt.
/// </remarks>
internal sealed partial class TaskJournal : IDisposable
{
    public const string FileName = "eventloop.journal";
    /// <summary>A rewrite step stops after this long, so the reactor pauses at most about this much per pass.</summary>
    private static readonly long StepBudgetTicks = Stopwatch.Frequency / 1000;

    private readonly ServerOptions _options;
    private readonly TaskStore _store;
    private readonly Action<string> _log;
    private readonly Action<WorkItem, string?> _release;
    private readonly JournalWriter _writer;
    private readonly JournalEncoder _encoder;
    /// <summary>What waits for the journal, in LSN order: a reply slot, or a change made off a connection (the dashboard's).</summary>
    private readonly Queue<(WorkItem? Slot, Action<string?>? Released, long Lsn)> _held = new();
    private JournalBatch _batch;
    private JournalProgress _progress;
    private IEnumerator<TaskRecord>? _walk;
    private bool _beginRewrite;
    private bool _rewriteEnding;
    private long _rewriteStarted;
    private long _fileSize;

    private TaskJournal(ServerOptions options, TaskStore store, Action<string> log, Action<WorkItem, string?> release, SafeFileHandle file, long offset, ReplayResult replay, Action notify)
    {
        _options = options;
        _store = store;
        _log = log;
        _release = release;
        Path = System.IO.Path.Combine(options.Dir, FileName);
        Replay = replay;
        BaseSize = offset;
        _writer = new JournalWriter(Path, file, offset, replay.LastLsn, options.AppendFsync, notify);
        _encoder = new JournalEncoder(replay.LastLsn);
        _batch = _writer.Rent();
        _encoder.Live = _batch.Live;
        _progress = _writer.Snapshot(takeRewrite: false);
        _fileSize = offset;
        store.Journal = _encoder;
    }

    public string Path { get; }

    public ReplayResult Replay { get; }

    /// <summary>The file's size after its last rewrite (or at start): growth is measured from it.</summary>
    public long BaseSize { get; private set; }

    public long Rewrites { get; private set; }

    public DateTime? LastRewriteAt { get; private set; }

    public double LastRewriteSeconds { get; private set; }

    /// <summary>The longest a rewrite step held the reactor, in ms (wall clock: a step preempted by other work counts whole).</summary>
    public double LongestRewriteStepMs { get; private set; }

    /// <summary>The most CPU time one rewrite step took on the reactor thread, in ms: its own work, without preemption.</summary>
    public double LongestRewriteStepCpuMs { get; private set; }

    public bool RewriteInProgress => _walk is not null || _beginRewrite || _rewriteEnding;

    public string? LastRewriteError { get; private set; }

    /// <summary>A write or fsync failed and none has succeeded since: mutating commands answer -MISCONF.</summary>
    public string? Failure => _progress.Error;

    /// <summary>A fresh copy of the journal thread's figures (for INFO).</summary>
    public JournalProgress Progress => _writer.Snapshot(takeRewrite: false);

    public long RecordsWritten => _encoder.Records;

    public long LastLsn => _encoder.LastLsn;

    public int HeldReplies => _held.Count;

    public long FsyncPercentileMicros(double p) => _writer.FsyncPercentile(p);

    /// <summary>
    /// Opens (or creates) the journal in --dir, replays it into <paramref name="store"/>, cuts a torn tail,
    /// and starts the journal thread. Throws <see cref="JournalCorruptException"/> for damage in the middle
    /// without --journal-repair.
    /// </summary>
    public static TaskJournal Open(ServerOptions options, TaskStore store, Action<string> log, Action<WorkItem, string?> release, Action notify)
    {
        Directory.CreateDirectory(options.Dir);
        string path = System.IO.Path.Combine(options.Dir, FileName);
        File.Delete(path + ".rewrite"); // a rewrite cut short by a crash: the journal itself is whole
        ReplayResult replay;
        using (var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, 1, FileOptions.None))
        {
            replay = JournalReplayer.Replay(stream, store, options.JournalRepair, path, log);
            if (replay.CreatedHeader)
            {
                byte[] header = new byte[JournalFormat.HeaderSize];
                JournalFormat.WriteHeader(header);
                stream.SetLength(0);
                stream.Write(header);
                replay.ValidEnd = header.Length;
            }
            else if (stream.Length != replay.ValidEnd)
            {
                stream.SetLength(replay.ValidEnd);
            }
            stream.Flush(flushToDisk: true);
        }
        JournalWriter.SyncDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        store.FinishRestore();
        log($"journal {path}: recovered {store.Count} task(s), {store.ScheduleCount} schedule(s) from {JournalReplayer.Describe(replay)}" +
            (replay.SkippedRecords > 0 ? $" ({replay.SkippedRecords} record(s) for tasks no longer held)" : ""));
        SafeFileHandle file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        var journal = new TaskJournal(options, store, log, release, file, replay.ValidEnd, replay, notify);
        if (replay.RepairedBytes > 0)
            journal.StartRewrite(); // the damaged bytes would stop the next start again: write a clean file now
        return journal;
    }

    /// <summary>
    /// Holds <paramref name="slot"/> (a reply acknowledging changes up to <paramref name="lsn"/>) until the
    /// journal thread reports that batch written (and fsync'd under always).
    /// </summary>
    public void Hold(WorkItem slot, long lsn) => _held.Enqueue((slot, null, lsn));

    /// <summary>As for a reply slot: <paramref name="released"/> hears null once changes up to <paramref name="lsn"/> are written (and fsync'd under always), or the MISCONF error.</summary>
    public void Hold(Action<string?> released, long lsn) => _held.Enqueue((null, released, lsn));

    /// <summary>
    /// End of a reactor pass: a rewrite step appends the next chunk of the snapshot, and the pass's records
    /// go to the journal thread as one batch. Nothing is handed when the pass changed nothing.
    /// </summary>
    public void Commit()
    {
        if (_walk is null && !_beginRewrite && !RewriteInProgress && ShouldRewrite())
            StartRewrite();
        if (_walk is not null)
            StepRewrite();
        JournalBatch batch = _batch;
        if (batch.Live.Length == 0 && batch.Snapshot.Length == 0 && !batch.BeginRewrite && !batch.EndRewrite)
            return;
        long lastLsn = batch.LastLsn = _encoder.LastLsn;
        if (_options.AppendFsync != FsyncPolicy.Always && _writer.TryWriteDirect(batch, out long size))
        {
            // Written before any reply of the pass leaves (the next pass flushes first): release them now.
            _fileSize = size;
            ReleaseHeld(lastLsn, failedLsn: -1);
            return;
        }
        _batch = _writer.Hand(batch);
        _encoder.Live = _batch.Live;
    }

    /// <summary>The journal thread reported progress: release the replies it covers, take a finished rewrite.</summary>
    public void OnProgress()
    {
        _progress = _writer.Snapshot(takeRewrite: true);
        _fileSize = _progress.FileSize;
        long durable = _options.AppendFsync == FsyncPolicy.Always ? _progress.SyncedLsn : _progress.WrittenLsn;
        ReleaseHeld(durable, _progress.FailedLsn);
        if (_progress.RewriteDoneSize >= 0)
            RewriteDone(_progress.RewriteDoneSize, _progress.RewriteError);
    }

    private void ReleaseHeld(long durable, long failedLsn)
    {
        while (_held.TryPeek(out var head) && (head.Lsn <= durable || head.Lsn <= failedLsn))
        {
            _held.Dequeue();
            string? error = head.Lsn <= durable ? null : $"MISCONF journal write failed: {_progress.Error ?? "unknown error"}";
            if (head.Slot is { } slot)
                _release(slot, error);
            else
                head.Released!(error);
        }
    }

    /// <summary>JOURNAL REWRITE: false when one is already running.</summary>
    public bool StartRewrite()
    {
        if (RewriteInProgress)
            return false;
        _beginRewrite = true;
        _batch.BeginRewrite = true;
        _rewriteStarted = Stopwatch.GetTimestamp();
        // Schedules and queues are few (bounded by --max-schedules, --max-queues): they go in the first
        // chunk, whole; every queue, so a paused one without tasks stays paused.
        foreach (Schedule schedule in _store.Schedules)
            _encoder.WriteSchedulePut(schedule, _batch.Snapshot);
        foreach (TaskQueue queue in _store.Queues)
            _encoder.WriteQueuePaused(queue, _batch.Snapshot);
        _walk = _store.WalkTasks().GetEnumerator();
        return true;
    }

    private bool ShouldRewrite()
    {
        if (_options.JournalRewritePercentage <= 0 || LastRewriteError is not null && Stopwatch.GetElapsedTime(_rewriteStarted) < TimeSpan.FromSeconds(10))
            return false;
        long size = _fileSize;
        return size >= _options.JournalRewriteMinSize && size >= BaseSize + BaseSize * _options.JournalRewritePercentage / 100;
    }

    /// <summary>Snapshots tasks into the batch for about a millisecond; the walk's end closes the rewrite.</summary>
    private void StepRewrite()
    {
        long started = Stopwatch.GetTimestamp();
        long startedCpu = ThreadCpuNanoseconds();
        PooledBuffer snapshot = _batch.Snapshot;
        int count = 0;
        bool more;
        while ((more = _walk!.MoveNext()) && (++count % 64 != 0 || Stopwatch.GetTimestamp() - started < StepBudgetTicks))
            _encoder.WriteTaskPut(_walk.Current, snapshot);
        if (more)
            _encoder.WriteTaskPut(_walk.Current, snapshot);
        else
        {
            _walk.Dispose();
            _walk = null;
            _beginRewrite = false;
            _rewriteEnding = true;
            _batch.EndRewrite = true;
        }
        double ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        LongestRewriteStepMs = Math.Max(LongestRewriteStepMs, ms);
        LongestRewriteStepCpuMs = Math.Max(LongestRewriteStepCpuMs, (ThreadCpuNanoseconds() - startedCpu) / 1e6);
    }

    /// <summary>The calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID): tells a step's work from the time it was switched out.</summary>
    private static unsafe long ThreadCpuNanoseconds()
    {
        const int ClockThreadCpuTimeId = 3;
        long* time = stackalloc long[2]; // struct timespec: seconds, nanoseconds
        return ClockGetTime(ClockThreadCpuTimeId, time) == 0 ? time[0] * 1_000_000_000 + time[1] : 0;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static unsafe partial int ClockGetTime(int clock, long* time);

    private void RewriteDone(long size, string? error)
    {
        bool wasWalking = _walk is not null;
        _walk?.Dispose();
        _walk = null;
        _beginRewrite = _rewriteEnding = false;
        if (size > 0 && !wasWalking)
        {
            BaseSize = size;
            Rewrites++;
            LastRewriteAt = DateTime.UtcNow;
            LastRewriteSeconds = Stopwatch.GetElapsedTime(_rewriteStarted).TotalSeconds;
            LastRewriteError = null;
            _log($"journal rewritten: {size} bytes in {LastRewriteSeconds:0.###} s (longest reactor step {LongestRewriteStepMs:0.###} ms, {LongestRewriteStepCpuMs:0.###} ms of it on the CPU)");
        }
        else
        {
            LastRewriteError = error ?? "abandoned";
            _batch.EndRewrite = false;
            _log($"journal rewrite abandoned: {LastRewriteError}");
        }
    }

    /// <summary>The reactor has stopped: hands the last batch, waits for it to be written and fsync'd.</summary>
    public void Dispose()
    {
        _walk?.Dispose();
        _walk = null;
        _batch.BeginRewrite = _batch.EndRewrite = false;
        _batch.Snapshot.Clear();
        if (_batch.Live.Length > 0)
        {
            _batch.LastLsn = _encoder.LastLsn;
            _writer.Hand(_batch);
        }
        _writer.Dispose();
        _store.Journal = null;
    }
}
