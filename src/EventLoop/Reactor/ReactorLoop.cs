using System.Buffers;
using System.Diagnostics;
using System.Net;
using EventLoop.Buffers;
using EventLoop.Commands;
using EventLoop.Diagnostics;
using EventLoop.Journal;
using EventLoop.Multiplexing;
using EventLoop.Native;
using EventLoop.Protocol;
using EventLoop.Queueing;
using EventLoop.Tasks;
using EventLoop.Timers;
using EventLoop.Workers;

namespace EventLoop.Reactor;

/// <summary>
/// The event loop: one thread that owns the multiplexer, the listening socket, every connection and its
/// buffers. It accepts (<see cref="ConnectionAcceptor"/>), reads and parses (<see cref="InputReader"/>),
/// answers cheap commands inline, hands tasks to the workers through the ring, takes finished tasks back
/// from the completion queue, and writes replies in request order (<see cref="OutputFlusher"/>).
/// </summary>
/// <remarks>
/// One iteration: flush what is still unsent (replies to reads leave right after the read; completed
/// tasks' replies here, one send per connection), wait, handle the
/// ready descriptors, take completions, retry connections stalled on a full ring, run due timers.
/// Everything in this class runs on the reactor thread except <see cref="RequestStop"/> and
/// <see cref="Completion"/>, which are safe from any thread.
/// </remarks>
internal sealed class ReactorLoop : IDisposable
{
    private const int HousekeepingHz = 10;
    /// <summary>Work items kept for reuse; beyond this, finished items are left to the GC.</summary>
    private const int FreeItemLimit = 1024;
    /// <summary>A recycled work item keeps buffers up to this size; larger ones go back to the pool.</summary>
    private const int RetainedItemBytes = 4096;
    private readonly ServerOptions _options;
    private readonly IMultiplexer _multiplexer;
    private readonly ReactorWakeup _wakeup = new();
    private readonly CompletionQueue _completions = new();
    private readonly WorkerPool _workers;
    private readonly CommandDispatcher _commands;
    private readonly ConnectionAcceptor _acceptor;
    private readonly InputReader _input;
    private readonly OutputFlusher _output;
    private readonly TimerHeap _timers = new();
    private readonly QueueClock _clock = new();
    private readonly QueuedTaskDispatcher _queuedTasks;
    private readonly InlineTaskRunner _inline;
    /// <summary>Carries a <c>RUN</c> the reactor runs itself: one item, reused, never queued.</summary>
    private readonly WorkItem _inlineItem = new();
    private readonly Action<string> _log;
    private readonly ReactorArrayPool _buffers = new();
    private readonly CallbackTimer _housekeeping;
    /// <summary>
    /// Room for every descriptor the loop may watch (the connections, refused ones lingering, the listener and the
    /// wake-up) to come back from one wait, as Redis sizes its event array: with 1,024 a wait, 10,000 busy connections
    /// took ten waits a round and some waited two rounds (docs/performance.md §10: p99/p50 at C10K 2.2, now 1.5–1.7).
    /// Past 65,536 connections a wait returns as many, the rest in the next one: a pass over more is long enough already.
    /// </summary>
    private readonly ReadyEvent[] _events;
    private readonly Queue<Connection> _stalled = new();
    private readonly Stack<WorkItem> _freeItems = new();
    private readonly OpsPerSecond _opsPerSecond = new();
    private readonly Thread _thread;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Connection?[] _connections = new Connection?[1024];
    private long _now;
    private int _running;
    private volatile bool _stopRequested;
    private bool _stopping;
    private long _stopDeadline;
    private bool _forcedStop;
    private readonly TaskJournal? _journal;
    private readonly WorkItem _journalNotice;
    private int _journalNoticeQueued;
    // The request being executed while it may change journaled state: its reply goes to a slot of its own.
    private Connection? _commandConnection;
    private WorkItem? _commandSlot;
    private long _commandLsn;

    public ReactorLoop(ServerOptions options, TaskRegistry tasks, IMultiplexer multiplexer, Action<string> log)
    {
        _options = options;
        _multiplexer = multiplexer;
        _events = new ReadyEvent[Math.Min(options.MaxClients, 65_536) + RefusedConnections.MaxLingering + 2];
        Stats = new ReactorStats(multiplexer);
        _log = message =>
        {
            try
            {
                log(message);
            }
            catch (Exception)
            {
                // A log line is not worth the reactor: out of descriptors, even stderr may fail.
            }
        };
        _workers = new WorkerPool(options.Workers, options.RingCapacity, _completions, _wakeup);
        Store = new TaskStore(options, tasks, _timers, _clock, _log);
        Parked = new ParkedReplies(_timers, DeliverReadyReplies);
        _inline = new InlineTaskRunner(options.InlineTasks, Environment.ProcessorCount, _workers.AbortToken);
        JournalWait = new JournalWait(options.JournalWait, Environment.ProcessorCount);
        _queuedTasks = new QueuedTaskDispatcher(Store, _workers, _inline, () => RentItem(null), Recycle);
        _commands = new CommandDispatcher(this, tasks);
        ClientMemory = new ClientMemory(options.MaxMemoryClients, _log);
        _output = new OutputFlusher(this, _log);
        _input = new InputReader(this, multiplexer, _commands, _output);
        _housekeeping = new CallbackTimer(Housekeeping); // one timer entry, re-armed: not one per 100 ms tick
        StartedAt = DateTime.UtcNow;
        _journalNotice = new WorkItem { Posted = OnJournalProgress, Reusable = true };
        // Recovery runs before the socket is bound: no client connects to a half-restored queue.
        if (options.AppendOnly)
            _journal = TaskJournal.Open(options, Store, _log, ReleaseHeld, NotifyJournalProgress);
        _thread = new Thread(Run) { IsBackground = true, Name = "eventloop-reactor" };
        int listenFd = Sockets.Listen(options.EndPoint, options.Backlog);
        try
        {
            Port = Sockets.LocalPort(listenFd);
            _multiplexer.Register(listenFd, Interest.Read);
            _multiplexer.Register(_wakeup.Fd, Interest.Read);
        }
        catch
        {
            Sockets.Close(listenFd);
            throw;
        }
        _acceptor = new ConnectionAcceptor(this, listenFd, multiplexer, _timers, _buffers, _log);
    }

    public ReactorStats Stats { get; }

    /// <summary>Latency histograms, set by the server's metrics before the loop starts; null without them.</summary>
    public Diagnostics.LatencyInstruments? Latency
    {
        get => _inline.Latency;
        set => _inline.Latency = value;
    }

    /// <summary>Which tasks the reactor runs itself (<c>--inline-tasks</c>).</summary>
    public InlineTaskRunner InlineTasks => _inline;

    /// <summary>The task queue's state machine (in memory; with --store postgres the queue lives in <see cref="QueueStore"/>).</summary>
    public TaskStore Store { get; }

    /// <summary>Where the queue's verbs go: the in-memory <see cref="Store"/> or PostgreSQL.</summary>
    public Stores.IQueueStore QueueStore => _commands.QueueStore;

    /// <summary>Requests waiting on the task queue (RESULT … TIMEOUT, WAIT).</summary>
    public ParkedReplies Parked { get; }

    public TimerHeap Timers => _timers;

    /// <summary>Connections that have fetched tasks and are open (external workers).</summary>
    public int Fetchers => _commands.Workers.Fetchers;
    /// <summary>What all clients hold together, and the budget it must stay under.</summary>
    public ClientMemory ClientMemory { get; }

    public ServerOptions Options => _options;

    /// <summary>The append-only journal; null with --appendonly no.</summary>
    internal TaskJournal? Journal => _journal;

    /// <summary>Whether an idle reactor polls while replies wait for the journal (<c>--journal-wait</c>).</summary>
    internal JournalWait JournalWait { get; }

    public WorkerPool Workers => _workers;

    public string BackendName => _multiplexer.Name;

    public int Port { get; }

    public DateTime StartedAt { get; }

    public long WakeSignals => _wakeup.Signals;

    /// <summary>Connection buffers kept for reuse by the reactor's pool.</summary>
    public int PooledBuffers => _buffers.Retained;

    public double OpsPerSecond => _opsPerSecond.Current;

    /// <summary>Runs on the reactor at every housekeeping tick (10 Hz) when set before <see cref="Start"/>: the HTTP endpoint's snapshot.</summary>
    public Action? HousekeepingHook { get; set; }

    /// <summary>Completes when the loop has exited and every connection is closed.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Reactor clock (Stopwatch ticks) of the current iteration.</summary>
    internal long Now => _now;

    /// <summary>A graceful stop has begun: nothing new is accepted or read.</summary>
    internal bool Stopping => _stopping;

    public void Start()
    {
        _workers.Start();
        _thread.Start();
    }

    /// <summary>Any thread: stop accepting, finish accepted work, flush, close.</summary>
    public void RequestStop()
    {
        _stopRequested = true;
        EventFd.Signal(_wakeup.Fd);
    }

    // ---------------------------------------------------------------- the loop

    private void Run()
    {
        Exception? failure = null;
        try
        {
            _now = Stopwatch.GetTimestamp();
            // Runs every periodic path once now, while descriptors are plentiful to load what it needs; it then reschedules itself.
            Housekeeping();
            while (!(_stopping && IsDrained()))
                RunOnce();
        }
        catch (Exception fatal)
        {
            _log($"reactor failed: {fatal}");
            failure = fatal;
        }
        // Closed before Completion says the loop has ended: whoever waits for it may exit the process next,
        // and the journal's last write and fsync must be done by then.
        try
        {
            CloseEverything();
        }
        catch (Exception closing)
        {
            _log($"closing the reactor failed: {closing}");
            failure ??= closing;
        }
        if (failure is null)
            _completion.TrySetResult();
        else
            _completion.TrySetException(failure);
    }

    private void RunOnce()
    {
        _output.FlushPendingWrites();
        int timeout = _timers.MillisecondsUntilNext(_now);
        // Polling, the reactor is not asleep: producers find their input on its next pass without the eventfd.
        bool poll = timeout != 0 && JournalWait.ShouldPoll(_journal, _now);
        if (poll)
            timeout = 0;
        else
            _wakeup.PrepareToSleep();
        if (!_completions.IsEmpty || _input.ReadsPending || _acceptor.AcceptAgain || (_stopRequested && !_stopping)
            || (!_stopping && _queuedTasks.CanDispatch))
            timeout = 0;
        int ready = _multiplexer.Wait(_events, timeout);
        _wakeup.Awake();
        _now = Stopwatch.GetTimestamp();
        JournalWait.Waited(poll && ready == 0 && _completions.IsEmpty, _now);
        _clock.NowTicks = _now;
        Stats.Iterations++;
        Stats.EventsReturned += ready;
        for (int i = 0; i < ready; i++)
            HandleEvent(_events[i]);
        _input.ContinueEdgeTriggeredReads();
        if (_acceptor.AcceptAgain)
            _acceptor.AcceptPending();
        DrainCompletions();
        RetryStalled();
        if (_stopRequested && !_stopping)
            BeginStop();
        _timers.RunDue(_now);
        Store.ServeBlockedFetches();
        if (!_stopping)
            DispatchQueuedTasks();
        _workers.WakeWorkersForQueuedItems();
        _journal?.Commit(); // this pass's records, as one batch, before the next pass flushes anything
    }

    private void DispatchQueuedTasks()
    {
        int dispatched = _queuedTasks.Dispatch();
        _running += dispatched;
        Stats.TasksSubmitted += dispatched;
    }

    private void HandleEvent(ReadyEvent ready)
    {
        if (ready.Fd == _acceptor.ListenFd)
        {
            _acceptor.AcceptPending();
            return;
        }
        if (ready.Fd == _wakeup.Fd)
        {
            _wakeup.Drain();
            Stats.Wakeups++;
            return;
        }
        // Null for a refused connection that lingers, or when an earlier event of this batch closed it: a
        // stale event must not touch it. (If that descriptor number was reused by a connection accepted in
        // this batch, the stale event reaches the new one as a spurious readiness: its read or send finds
        // EAGAIN, which is harmless.)
        Connection? connection = ready.Fd < _connections.Length ? _connections[ready.Fd] : null;
        if (connection is null)
        {
            _acceptor.HandleRefused(ready.Fd);
            return;
        }
        try
        {
            if ((ready.Ready & Interest.Read) != 0)
                _input.ReadFrom(connection);
            // Send what the reads produced now rather than after the whole batch: the output buffer goes
            // straight back to the pool, so a burst over many connections needs one buffer, not one each.
            bool writable = (ready.Ready & Interest.Write) != 0 || connection.OutputLength > 0 && !connection.AwaitingWritable;
            if (writable && !connection.Closed)
                _output.FlushConnection(connection);
        }
        catch (Exception unexpected) when (unexpected is not MultiplexerException)
        {
            // A bug or a resource failure while serving one connection costs that connection, not the server.
            _log($"closing client {connection.Id} after an unexpected error: {unexpected}");
            Close(connection);
        }
        // Reads grow buffers; here, between two connections' events, is where closing any of them is safe.
        ClientMemory.Enforce(this);
    }

    // ---------------------------------------------------------------- connections

    /// <summary>Makes an admitted connection known to the loop: its descriptor's events now reach it.</summary>
    internal void Track(Connection connection)
    {
        if (connection.Fd >= _connections.Length)
            Array.Resize(ref _connections, Math.Max(connection.Fd + 1, _connections.Length * 2));
        _connections[connection.Fd] = connection;
        Stats.ConnectedClients++;
        Stats.ConnectionsAccepted++;
    }

    // ---------------------------------------------------------------- replies and tasks

    /// <summary>
    /// Where an inline reply for <paramref name="connection"/> goes: straight to its output when nothing
    /// is owed before it, otherwise into a completed entry queued behind the pending tasks.
    /// </summary>
    public IBufferWriter<byte> BeginReply(Connection connection)
    {
        if (_commandConnection == connection)
        {
            if (_commandSlot is null)
            {
                _commandSlot = AppendReplySlot(connection);
                _commandSlot.State = WorkState.Held; // nothing delivers it before EndCommand decides
            }
            return _commandSlot.Reply;
        }
        if (connection.FirstPending is null)
        {
            _output.ScheduleFlush(connection);
            return connection.Output;
        }
        WorkItem item = RentItem(connection);
        item.BeginInlineReply();
        item.State = WorkState.Complete;
        connection.AppendPending(item);
        return item.Reply;
    }

    /// <summary>
    /// Runs <paramref name="task"/> with the arguments after <c>RUN name</c>: here, when it is proven short and
    /// inline runs are on; else through the ring, where a full ring stalls the connection.
    /// </summary>
    public void Submit(Connection connection, TaskDefinition task, in RespCommand command)
    {
        if (_inline.Accepts(task))
        {
            WorkItem inline = _inlineItem;
            inline.Task = task;
            inline.SetArguments(command, 2);
            _inline.Run(inline);
            WriteTaskReply(BeginReply(connection), inline.Reply);
            inline.Reset(RetainedItemBytes);
            return;
        }
        WorkItem item = RentItem(connection);
        item.Task = task;
        item.SetArguments(command, 2);
        connection.AppendPending(item);
        if (_workers.TrySubmit(item))
        {
            item.State = WorkState.Running;
            _running++;
            Stats.TasksSubmitted++;
        }
        else
        {
            item.State = WorkState.Stalled;
            connection.Stalled = true;
            _stalled.Enqueue(connection);
            _workers.ProducerWaiting = true;
            Stats.RingFullStalls++;
            UpdateInterest(connection);
        }
        if (connection.PendingCount >= _options.MaxInflight)
        {
            Stats.InflightPauses++;
            UpdateInterest(connection);
        }
    }

    /// <summary>
    /// A request that may change journaled state begins: its reply is written to a slot of its own, which
    /// <see cref="EndCommand"/> holds for the journal when the request produced records.
    /// </summary>
    internal void BeginCommand(Connection connection)
    {
        _commandConnection = connection;
        _commandSlot = null;
        _commandLsn = _journal!.LastLsn;
    }

    internal void EndCommand(Connection connection)
    {
        WorkItem? slot = _commandSlot;
        _commandConnection = null;
        _commandSlot = null;
        if (slot is null)
            return;
        if (connection.Closed)
            Recycle(slot); // not recycled by Close: it was held
        else if (_journal!.LastLsn > _commandLsn)
            _journal.Hold(slot, _journal.LastLsn);
        else
        {
            slot.State = WorkState.Complete;
            DeliverReadyReplies(connection);
        }
    }

    /// <summary>The journal wrote (or failed to write) the records a held reply acknowledges: send it, or the error instead.</summary>
    private void ReleaseHeld(WorkItem slot, string? error)
    {
        Connection? connection = slot.Owner;
        if (connection is null || connection.Closed)
        {
            Recycle(slot);
            return;
        }
        if (error is not null)
        {
            slot.Reply.Clear();
            RespWriter.WriteError(slot.Reply, error);
        }
        slot.State = WorkState.Complete;
        DeliverReadyReplies(connection);
    }

    /// <summary>Journal thread: progress to report; one notice in the completion queue at a time, reused.</summary>
    private void NotifyJournalProgress()
    {
        if (Interlocked.Exchange(ref _journalNoticeQueued, 1) != 0)
            return;
        _completions.Push(_journalNotice);
        _wakeup.Wake();
    }

    private void OnJournalProgress()
    {
        Volatile.Write(ref _journalNoticeQueued, 0); // before reading: progress reported after this posts again
        _journal?.OnProgress();
    }

    /// <summary>Closes the connection once the replies owed before this point are sent (QUIT).</summary>
    public void CloseAfterReplies(Connection connection)
    {
        connection.CloseAfterReplies = true;
        UpdateInterest(connection);
    }

    /// <summary>
    /// Closes the connection whose client id is <paramref name="id"/> at once (CLIENT KILL ID); false when
    /// there is none. Its events later in the current batch then find no connection and are skipped, and
    /// its tasks still running are discarded when they complete.
    /// </summary>
    public bool KillClient(long id)
    {
        foreach (Connection connection in OpenConnections())
        {
            if (connection.Id == id)
            {
                Close(connection);
                return true;
            }
        }
        return false;
    }

    /// <summary>Every open connection (for CLIENT LIST and housekeeping).</summary>
    public IEnumerable<Connection> OpenConnections()
    {
        foreach (Connection? connection in _connections)
        {
            if (connection is not null)
                yield return connection;
        }
    }

    private void DrainCompletions()
    {
        WorkItem? item = _completions.TakeAll();
        while (item is not null)
        {
            WorkItem? next = item.NextCompleted;
            item.NextCompleted = null;
            if (item.Posted is { } posted)
            {
                posted(); // work posted by another thread (the embedding API, the journal), not a finished task
                if (!item.Reusable)
                    Recycle(item);
                item = next;
                continue;
            }
            _running--;
            Stats.TasksCompleted++;
            _inline.ObserveWorkerRun(item);
            if (Latency is { Tasks.Enabled: true } latency && item.Task is { } task)
                latency.RecordTask(task.Name, item.StartedAt, _now);
            if (item.QueuedTask is not null)
            {
                _queuedTasks.Complete(item);
                Recycle(item);
                item = next;
                continue;
            }
            Connection connection = item.Owner!;
            if (connection.Closed || item.Abandoned)
            {
                Recycle(item); // the client left, or was answered with a timeout: the result has nowhere to go
            }
            else
            {
                item.State = WorkState.Complete;
                DeliverReadyReplies(connection);
            }
            item = next;
        }
    }

    /// <summary>Moves the complete replies at the head of the pending list to the output, in order.</summary>
    private void DeliverReadyReplies(Connection connection)
    {
        bool wasFull = connection.PendingCount >= _options.MaxInflight;
        while (connection.FirstPending is { State: WorkState.Complete })
        {
            WorkItem done = connection.TakeFirstPending();
            WriteTaskReply(connection.Output, done.Reply);
            Recycle(done);
        }
        if (_output.ExceedsOutputLimit(connection))
            return;
        _output.ScheduleFlush(connection);
        if (wasFull && connection.PendingCount < _options.MaxInflight)
            ResumeInput(connection);
    }

    private void WriteTaskReply(IBufferWriter<byte> output, PooledBuffer reply)
    {
        if (reply.Length > _options.MaxOutputBytes)
            RespWriter.WriteError(output, $"ERR reply of {reply.Length} bytes exceeds max-output-bytes ({_options.MaxOutputBytes})");
        else
            output.Write(reply.WrittenSpan);
    }

    private void RetryStalled()
    {
        while (_stalled.TryPeek(out Connection? connection))
        {
            if (!connection.Closed)
            {
                WorkItem item = connection.LastPending!; // parsing stopped right after the stalled request
                if (!_workers.TrySubmit(item))
                    break;
                item.State = WorkState.Running;
                _running++;
                Stats.TasksSubmitted++;
                connection.Stalled = false;
            }
            _stalled.Dequeue();
            if (!connection.Closed)
                ResumeInput(connection);
        }
        _workers.ProducerWaiting = _stalled.Count > 0;
    }

    /// <summary>Parses what a paused connection had buffered, then watches it for reads again.</summary>
    private void ResumeInput(Connection connection)
    {
        connection.InputNeeded = 0;
        _input.ParseCarriedInput(connection);
        if (!connection.Closed)
            UpdateInterest(connection);
    }

    /// <summary>
    /// Appends an empty reply slot for a request answered later (a parked RESULT or WAIT); requests after it
    /// queue behind it. It counts as a request in flight.
    /// </summary>
    public WorkItem AppendReplySlot(Connection connection)
    {
        WorkItem slot = RentItem(connection);
        slot.BeginInlineReply();
        connection.AppendPending(slot);
        if (connection.PendingCount >= _options.MaxInflight)
        {
            Stats.InflightPauses++;
            UpdateInterest(connection);
        }
        return slot;
    }

    /// <summary>
    /// The peer shut down its sending side: its parked requests answer now with what is known, as at their
    /// deadline. A FIN cannot tell a half-close from a peer that is gone, and a parked request with no
    /// limit would otherwise keep a vanished client's connection (and its leases) forever.
    /// </summary>
    public void ExpireParked(Connection connection)
    {
        List<ParkedReply>? parked = null;
        for (WorkItem? item = connection.FirstPending; item is not null; item = item.NextOnConnection)
        {
            if (item.State == WorkState.Parked)
                (parked ??= []).Add(item.Parked!);
        }
        // Collected first: answering one delivers replies, which unlinks the slots being walked.
        parked?.ForEach(reply => reply.Expire());
    }

    /// <summary>Any thread: runs <paramref name="action"/> on the reactor thread soon, through the completion queue.</summary>
    public void Post(Action action)
    {
        _completions.Push(new WorkItem { Posted = action });
        _wakeup.Wake();
    }

    private WorkItem RentItem(Connection? owner)
    {
        WorkItem item = _freeItems.TryPop(out WorkItem? free) ? free : new WorkItem();
        item.Owner = owner;
        return item;
    }

    private void Recycle(WorkItem item)
    {
        if (_freeItems.Count >= FreeItemLimit)
        {
            item.Reset(retainBytes: 0);
            return;
        }
        item.Reset(RetainedItemBytes);
        _freeItems.Push(item);
    }

    // ---------------------------------------------------------------- interest and closing

    /// <summary>Watches the connection for exactly what it needs: input it can parse, lingering input to discard, writability.</summary>
    internal void UpdateInterest(Connection connection)
    {
        Interest wanted = Interest.None;
        if ((_input.CanParse(connection) && !connection.InputEnded) || connection.LingerUntil != 0)
            wanted |= Interest.Read;
        if (connection.AwaitingWritable)
            wanted |= Interest.Write;
        if (wanted == connection.Interest)
            return;
        connection.Interest = wanted;
        Stats.InterestChanges++;
        _multiplexer.Register(connection.Fd, wanted);
    }

    internal void Close(Connection connection)
    {
        if (connection.Closed)
            return;
        connection.Closed = true;
        _multiplexer.Unregister(connection.Fd);
        Sockets.Close(connection.Fd);
        _connections[connection.Fd] = null;
        Stats.ConnectedClients--;
        Stats.ConnectionsClosed++;
        WorkItem? item = connection.FirstPending;
        while (item is not null)
        {
            WorkItem? next = item.NextOnConnection;
            // A running item comes back through the completion queue and is recycled there.
            if (item.State == WorkState.Parked)
                item.Parked!.Abandon();
            // A held reply is recycled when the journal releases it.
            if (item.State is not (WorkState.Running or WorkState.Held))
                Recycle(item);
            item = next;
        }
        connection.FirstPending = connection.LastPending = null;
        connection.PendingCount = 0;
        _commands.Workers.ConnectionClosed(connection);
        bool heldLargeBuffers = connection.LargestBuffer > ReactorArrayPool.LargestPooled;
        connection.ReleaseBuffers();
        if (heldLargeBuffers)
            _output.ReturnMemoryToTheSystem();
    }

    // ---------------------------------------------------------------- housekeeping and stopping

    private void Housekeeping()
    {
        _opsPerSecond.Sample(Stats.Commands, _now);
        if (_opsPerSecond.SampleCount % HousekeepingHz == 0)
            EnforceTimeouts();
        if (_options.TaskTimeout > TimeSpan.Zero)
            EnforceTaskTimeouts();
        ClientMemory.Enforce(this); // replies delivered from completions grow outputs too
        _output.CloseLingeringUntil(_stopping ? long.MaxValue : _now);
        _acceptor.CloseRefusedUntil(_now);
        if (_stopping && _now > _stopDeadline)
            ForceStop();
        HousekeepingHook?.Invoke();
        _timers.Schedule(_housekeeping, _now + Stopwatch.Frequency / HousekeepingHz);
    }

    /// <summary>Once a second: idle connections and requests left incomplete too long (slow loris) are closed.</summary>
    private void EnforceTimeouts()
    {
        long idleTicks = Ticks(_options.IdleTimeout);
        long requestTicks = Ticks(_options.RequestTimeout);
        if (idleTicks == 0 && requestTicks == 0)
            return;
        // By index over the table itself, not a copy: closing only empties a slot, and a copy of 10,000
        // references each second would be the loop's only steady allocation.
        for (int fd = 0; fd < _connections.Length; fd++)
        {
            if (_connections[fd] is not { } connection)
                continue;
            if (idleTicks > 0 && connection.PendingCount == 0 && _now - connection.LastActiveAt > idleTicks)
            {
                Stats.IdleTimeoutDisconnects++;
                Close(connection);
            }
            else if (requestTicks > 0 && connection.InputLength > 0 && !connection.Stalled && !connection.CloseAfterReplies
                     && connection.PendingCount < _options.MaxInflight && _now - connection.IncompleteSince > requestTicks)
            {
                Stats.RequestTimeoutDisconnects++;
                _input.FailProtocol(connection, $"request incomplete for more than {_options.RequestTimeout.TotalSeconds:0.###} s");
            }
        }
    }

    /// <summary>
    /// A task running past <see cref="ServerOptions.TaskTimeout"/> is answered now with an error in its
    /// place in the reply order; its eventual result is discarded. A worker held that long by a
    /// synchronous task is replaced, so a hung handler cannot shrink the pool for good.
    /// </summary>
    private void EnforceTaskTimeouts()
    {
        long limit = Ticks(_options.TaskTimeout);
        foreach (Connection connection in OpenConnections())
        {
            bool answered = false;
            WorkItem? previous = null;
            for (WorkItem? item = connection.FirstPending; item is not null; previous = item, item = item.NextOnConnection)
            {
                long startedAt = item.StartedAt;
                if (item.State != WorkState.Running || startedAt == 0 || _now - startedAt <= limit)
                    continue;
                WorkItem timedOut = RentItem(connection);
                timedOut.BeginInlineReply();
                RespWriter.WriteError(timedOut.Reply, $"ERR task '{item.Task!.Name}' timed out after {_options.TaskTimeout.TotalSeconds:0.###} s");
                timedOut.State = WorkState.Complete;
                connection.ReplacePending(previous, item, timedOut);
                item.Abandoned = true;
                item = timedOut;
                Stats.TaskTimeouts++;
                answered = true;
            }
            if (answered)
                DeliverReadyReplies(connection);
        }
        _workers.ReplaceStuckWorkers(_now, limit, _log);
    }

    internal static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    /// <summary>Stops accepting and reading; each connection closes once its owed replies are sent.</summary>
    private void BeginStop()
    {
        _stopping = true;
        _stopDeadline = _now + (long)(_options.ShutdownTimeout.TotalSeconds * Stopwatch.Frequency);
        _acceptor.StopListening();
        _log($"stopping: {Stats.ConnectedClients} connection(s), {_running + QueueStore.RunsUnderWay} task(s) running");
        Parked.ExpireAll(); // a parked request would otherwise hold its connection open until the deadline
        foreach (Connection connection in OpenConnections().ToList())
        {
            connection.ReleaseInput();
            if (connection.PendingCount == 0 && connection.OutputLength == 0)
                Close(connection);
            else
                UpdateInterest(connection);
        }
    }

    /// <summary>
    /// The connections are gone, and the tasks and the store's own work are done; past the deadline the store still
    /// gets <see cref="StoreGiveBackGrace"/> to have its runs given back (a database that does not answer cannot hold the stop).
    /// </summary>
    private bool IsDrained() => Stats.ConnectedClients == 0
        && (_forcedStop ? QueueStore.Idle || _now > _stopDeadline + Ticks(StoreGiveBackGrace) : _running == 0 && QueueStore.Idle);

    private static readonly TimeSpan StoreGiveBackGrace = TimeSpan.FromSeconds(2);

    /// <summary>The shutdown deadline passed: cancel asynchronous tasks and drop the connections still waiting.</summary>
    private void ForceStop()
    {
        if (_forcedStop)
            return; // housekeeping calls it on every tick past the deadline while the store gives its runs back
        _log($"shutdown deadline passed: closing {Stats.ConnectedClients} connection(s) with replies still owed");
        _forcedStop = true;
        _workers.AbortAsyncTasks();
        QueueStore.GiveBackRuns();
        foreach (Connection connection in OpenConnections().ToList())
            Close(connection);
    }

    private void CloseEverything()
    {
        foreach (Connection connection in OpenConnections().ToList())
            Close(connection);
        _acceptor.CloseListener();
        _acceptor.CloseRefusedUntil(long.MaxValue);
        _workers.AbortAsyncTasks();
        _workers.Stop();
        _journal?.Dispose();
    }

    public void Dispose()
    {
        _multiplexer.Dispose();
        _wakeup.Dispose();
    }
}
