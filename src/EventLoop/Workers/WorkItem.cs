using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics;
using EventLoop.Buffers;
using EventLoop.Protocol;
using EventLoop.Queueing;
using EventLoop.Reactor;
using EventLoop.Tasks;

namespace EventLoop.Workers;

/// <summary>Where a <see cref="WorkItem"/> is in its life.</summary>
internal enum WorkState : byte
{
    /// <summary>In the reactor's free list.</summary>
    Free,
    /// <summary>Parsed, waiting for room in the ring (its connection is stalled).</summary>
    Stalled,
    /// <summary>In the ring, running on a worker, or awaiting an asynchronous handler.</summary>
    Running,
    /// <summary>Its reply bytes are ready and wait only for their predecessors on the connection.</summary>
    Complete,
    /// <summary>A reply slot a later event fills (a parked <c>RESULT … TIMEOUT</c> or <c>WAIT</c>); see <see cref="WorkItem.Parked"/>.</summary>
    Parked,
    /// <summary>A reply that acknowledges a change, written, waiting for the journal to write (and fsync) its records.</summary>
    Held,
}

/// <summary>
/// One request and, once run, its reply: the unit that crosses threads. The reactor fills it, hands it
/// to a worker through the ring, gets it back through the <see cref="CompletionQueue"/>, and recycles it.
/// </summary>
/// <remarks>
/// Ownership moves with the item: the reactor owns it until <c>TryEnqueue</c> succeeds, one worker (or the
/// continuation of an asynchronous handler) owns it until it is pushed on the completion queue, then the
/// reactor again. The ring and the completion queue are the only hand-off points, and both publish with
/// full fences, so the fields need no synchronisation of their own. Items are reused: nothing is allocated
/// per request once the free list is warm.
/// </remarks>
internal sealed class WorkItem : ITaskHolder
{
    /// <summary>Room in front of a task's result for its bulk header: '$', up to 10 digits, CRLF.</summary>
    private const int BulkHeaderRoom = 16;
    // Small first arrays: thousands of idle work items wait in the reactor's free list.
    private const int FirstBufferBytes = 256;
    private readonly PooledBuffer _argumentBytes = new(ArrayPool<byte>.Shared, FirstBufferBytes);
    private int[] _argumentEnds = new int[4];
    private readonly Action _onAsyncCompleted;
    private ValueTask _pendingAsync;
    private WorkerPool? _pool;

    public WorkItem() => _onAsyncCompleted = OnAsyncCompleted;

    // ---- reactor-owned ----

    /// <summary>The connection that asked; its reply goes back there if it is still open.</summary>
    public Connection? Owner;

    /// <summary>The next reply on the same connection, in request order.</summary>
    public WorkItem? NextOnConnection;

    public WorkState State;

    /// <summary>Timed out and answered already: the result, when it comes, is discarded.</summary>
    public bool Abandoned;

    /// <summary>What its connection counts as held for it while it is queued there (<see cref="Connection.Hold"/>).</summary>
    public long HeldBytes;

    /// <summary>Size of its argument and reply arrays; read by the reactor only while it owns the item.</summary>
    public long BufferBytes => (long)_argumentBytes.Capacity + Reply.Capacity;

    private long _startedAt;

    /// <summary>Stopwatch ticks when a worker began running it; 0 while queued. Written by the worker, read by the reactor.</summary>
    public long StartedAt => Volatile.Read(ref _startedAt);

    // ---- request (written by the reactor, read by a worker) ----

    public TaskDefinition? Task;

    public int ArgumentCount { get; private set; }

    /// <summary>The encoded reply (a complete RESP value) once the item is <see cref="WorkState.Complete"/>.</summary>
    public readonly PooledBuffer Reply = new(ArrayPool<byte>.Shared, FirstBufferBytes);

    /// <summary>Link in the <see cref="CompletionQueue"/>; written by the pushing thread before publication.</summary>
    public WorkItem? NextCompleted;

    // ---- a queued task's run (reactor-owned fields; the worker reads them) ----

    /// <summary>The queued task this item runs (null for <c>RUN</c>, whose reply goes to <see cref="Owner"/>).</summary>
    public TaskRecord? QueuedTask;

    /// <summary>The attempt it runs: the fence its outcome is checked against.</summary>
    public int Attempt;

    /// <summary>The reply slot's waiter while <see cref="WorkState.Parked"/>.</summary>
    public ParkedReply? Parked;

    /// <summary>
    /// Work for the reactor itself, posted from another thread through the completion queue (the embedding
    /// API): run on the reactor instead of being treated as a finished task.
    /// </summary>
    public Action? Posted;

    /// <summary>A posted item the poster pushes again (the journal's progress notice): never recycled.</summary>
    public bool Reusable;

    /// <summary>Cancelled by CANCEL or TIMEOUT of the queued task it runs, and when the server stops waiting.</summary>
    private CancellationTokenSource? _cancel;

    /// <summary>The token the handler was given; a worker writes it before running, the handler reads it.</summary>
    public CancellationToken RunToken { get; private set; }

    /// <summary>The handler threw: <see cref="Reply"/> holds the error reply and this its message (read by the reactor after completion).</summary>
    public string? FailureMessage { get; private set; }

    /// <summary>Reactor: makes this item the run of <paramref name="task"/>'s attempt <paramref name="attempt"/>.</summary>
    public void BeginQueuedRun(TaskRecord task, int attempt, CancellationToken serverAbort)
    {
        QueuedTask = task;
        Task = task.Handler;
        Attempt = attempt;
        _cancel ??= CancellationTokenSource.CreateLinkedTokenSource(serverAbort);
        ReadOnlySpan<byte> packed = task.Arguments;
        int count = PackedArguments.Count(packed);
        if (_argumentEnds.Length < count)
            _argumentEnds = new int[Math.Max(count, _argumentEnds.Length * 2)];
        _argumentBytes.Clear();
        _argumentBytes.Write(PackedArguments.Data(packed));
        for (int i = 0; i < count; i++)
            _argumentEnds[i] = PackedArguments.End(packed, i);
        ArgumentCount = count;
    }

    /// <summary>
    /// Reactor (CANCEL, TIMEOUT): tells the handler to stop; its outcome, when it comes, is stale. The token's
    /// callbacks run on the thread pool: a handler's code resumed by the cancellation must not run on the reactor.
    /// </summary>
    public void CancelRun() => _cancel?.CancelAsync();

    /// <summary>Copies arguments <paramref name="first"/>.. of <paramref name="command"/> out of the connection's read buffer.</summary>
    public void SetArguments(in RespCommand command, int first)
    {
        int count = command.Count - first;
        if (_argumentEnds.Length < count)
            _argumentEnds = new int[Math.Max(count, _argumentEnds.Length * 2)];
        _argumentBytes.Clear();
        for (int i = 0; i < count; i++)
        {
            _argumentBytes.Write(command[first + i]);
            _argumentEnds[i] = _argumentBytes.Length;
        }
        ArgumentCount = count;
    }

    public ReadOnlyMemory<byte> Argument(int index)
    {
        if ((uint)index >= (uint)ArgumentCount)
            throw new ArgumentOutOfRangeException(nameof(index), $"the task got {ArgumentCount} argument(s)");
        int start = index == 0 ? 0 : _argumentEnds[index - 1];
        return _argumentBytes.WrittenMemory[start.._argumentEnds[index]];
    }

    /// <summary>How long a worker's run took, in Stopwatch ticks (until an asynchronous handler first awaited); written before the item is handed back.</summary>
    public long RunTicks;

    /// <summary>
    /// Runs the task on the calling worker, which read the clock at <paramref name="startedAt"/>. Returns true
    /// when it finished here (the worker then hands it back); false when an asynchronous handler is still
    /// awaiting, in which case its continuation hands it back through <see cref="WorkerPool.Complete"/>.
    /// </summary>
    public bool Run(WorkerPool pool, long startedAt, CancellationToken abort) => RunOn(pool, startedAt, abort);

    /// <summary>Runs a synchronous handler on the calling thread (the reactor: see <see cref="InlineTaskRunner"/>).</summary>
    public void RunHere(long startedAt, CancellationToken abort)
    {
        Debug.Assert(Task!.Handler is not null, "only synchronous handlers run on the reactor");
        RunOn(null, startedAt, abort);
    }

    private bool RunOn(WorkerPool? pool, long startedAt, CancellationToken abort)
    {
        Volatile.Write(ref _startedAt, startedAt);
        RunToken = _cancel?.Token ?? abort;
        FailureMessage = null;
        Reply.ClearWithHeadroom(BulkHeaderRoom);
        TaskDefinition task = Task!;
        try
        {
            if (task.Handler is { } handler)
            {
                handler(new TaskArguments(this), Reply);
            }
            else
            {
                ValueTask pending = task.AsyncHandler!(new TaskArguments(this), Reply, RunToken);
                if (!pending.IsCompleted)
                {
                    _pendingAsync = pending;
                    _pool = pool ?? throw new InvalidOperationException("an asynchronous handler awaited off a worker");
                    pending.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onAsyncCompleted);
                    return false;
                }
                pending.GetAwaiter().GetResult();
            }
            FrameResultAsBulk();
        }
        catch (Exception failure)
        {
            SetFailure(failure);
        }
        return true;
    }

    /// <summary>Prepares the item to carry a reply produced on the reactor (behind earlier pending replies).</summary>
    public void BeginInlineReply() => Reply.Clear();

    /// <summary>Drops references and trims large buffers before the item returns to the free list.</summary>
    public void Reset(int retainBytes)
    {
        Owner = null;
        NextOnConnection = null;
        NextCompleted = null;
        Task = null;
        ArgumentCount = 0;
        State = WorkState.Free;
        Abandoned = false;
        _startedAt = 0;
        RunTicks = 0;
        QueuedTask = null;
        Attempt = 0;
        Parked = null;
        Posted = null;
        FailureMessage = null;
        RunToken = default;
        if (_cancel is not null && !_cancel.TryReset())
        {
            _cancel.Dispose();
            _cancel = null;
        }
        if (_argumentBytes.Capacity > retainBytes)
            _argumentBytes.Release();
        if (Reply.Capacity > retainBytes)
            Reply.Release();
        Reply.Clear();
    }

    private void OnAsyncCompleted()
    {
        ValueTask pending = _pendingAsync;
        WorkerPool pool = _pool!;
        _pendingAsync = default;
        _pool = null;
        try
        {
            pending.GetAwaiter().GetResult();
            FrameResultAsBulk();
        }
        catch (Exception failure)
        {
            SetFailure(failure);
        }
        pool.Complete(this);
    }

    private void FrameResultAsBulk()
    {
        Span<byte> header = stackalloc byte[BulkHeaderRoom];
        header[0] = (byte)'$';
        Utf8Formatter.TryFormat(Reply.Length, header[1..], out int digits);
        header[1 + digits] = (byte)'\r';
        header[2 + digits] = (byte)'\n';
        Reply.Prepend(header[..(3 + digits)]);
        Reply.Write("\r\n"u8);
    }

    private void SetFailure(Exception failure)
    {
        Reply.Clear();
        FailureMessage = failure.Message;
        string reason = failure is OperationCanceledException && QueuedTask is null ? "cancelled: the server is stopping" : "failed: " + failure.Message;
        RespWriter.WriteError(Reply, $"ERR task '{Task!.Name}' {reason}");
    }
}
