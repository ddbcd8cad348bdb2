using System.Buffers;
using System.Diagnostics;
using System.Net;
using EventLoop.Buffers;
using EventLoop.Commands;
using EventLoop.Diagnostics;
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
/// buffers. It accepts, reads, parses, answers cheap commands inline, hands tasks to the workers through
/// the ring, takes finished tasks back from the completion queue, and writes replies in request order.
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
    private const int ReadBufferSize = 64 * 1024;
    private const int MaxEventsPerWait = 1024;
    private const int HousekeepingHz = 10;
    /// <summary>Work items kept for reuse; beyond this, finished items are left to the GC.</summary>
    private const int FreeItemLimit = 1024;
    /// <summary>A recycled work item keeps buffers up to this size; larger ones go back to the pool.</summary>
    private const int RetainedItemBytes = 4096;
    /// <summary>Longest a finished connection waits for its peer to close (<see cref="Connection.LingerUntil"/>).</summary>
    private static readonly TimeSpan LingerTimeout = TimeSpan.FromSeconds(2);

    private static ReadOnlySpan<byte> MaxClientsReply => "-ERR max number of clients reached\r\n"u8;

    private readonly ServerOptions _options;
    private readonly IMultiplexer _multiplexer;
    private readonly ReactorWakeup _wakeup = new();
    private readonly CompletionQueue _completions = new();
    private readonly WorkerPool _workers;
    private readonly RespRequestParser _parser;
    private readonly CommandDispatcher _commands;
    private readonly TimerHeap _timers = new();
    private readonly QueueClock _clock = new();
    private readonly QueuedTaskDispatcher _queuedTasks;
    private readonly Action<string> _log;
    private readonly byte[] _readBuffer = new byte[ReadBufferSize];
    private readonly ReactorArrayPool _buffers = new();
    private readonly CallbackTimer _housekeeping;
    private readonly ReadyEvent[] _events = new ReadyEvent[MaxEventsPerWait];
    private readonly List<Connection> _flushList = [];
    private List<Connection> _readAgain = [];
    private readonly List<Connection> _lingering = [];
    private List<Connection> _readingAgain = [];
    private bool _acceptAgain;
    private long _lastMemoryReturn = long.MinValue / 2;
    private readonly Queue<Connection> _stalled = new();
    private readonly Stack<WorkItem> _freeItems = new();
    private readonly OpsPerSecond _opsPerSecond = new();
    private readonly DescriptorReserve _descriptorReserve;
    private readonly Thread _thread;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Connection?[] _connections = new Connection?[1024];
    private int _listenFd;
    private long _nextConnectionId;
    private long _now;
    private int _running;
    private volatile bool _stopRequested;
    private bool _stopping;
    private long _stopDeadline;
    private bool _forcedStop;

    public ReactorLoop(ServerOptions options, TaskRegistry tasks, IMultiplexer multiplexer, Action<string> log)
    {
        _options = options;
        _multiplexer = multiplexer;
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
        _parser = new RespRequestParser(options.ProtocolLimits);
        _workers = new WorkerPool(options.Workers, options.RingCapacity, _completions, _wakeup);
        Store = new TaskStore(options, tasks, _timers, _clock, _log);
        Parked = new ParkedReplies(_timers, DeliverReadyReplies);
        _queuedTasks = new QueuedTaskDispatcher(Store, _workers, () => RentItem(null));
        _commands = new CommandDispatcher(this, tasks);
        _housekeeping = new CallbackTimer(Housekeeping); // one timer entry, re-armed: not one per 100 ms tick
        _descriptorReserve = new DescriptorReserve(Stats, log);
        StartedAt = DateTime.UtcNow;
        _thread = new Thread(Run) { IsBackground = true, Name = "eventloop-reactor" };
        _listenFd = Sockets.Listen(options.EndPoint, options.Backlog);
        try
        {
            Port = Sockets.LocalPort(_listenFd);
            _multiplexer.Register(_listenFd, Interest.Read);
            _multiplexer.Register(_wakeup.Fd, Interest.Read);
        }
        catch
        {
            Sockets.Close(_listenFd);
            throw;
        }
    }

    public ReactorStats Stats { get; }

    /// <summary>The task queue's state machine.</summary>
    public TaskStore Store { get; }

    /// <summary>Requests waiting on the task queue (RESULT … TIMEOUT, WAIT).</summary>
    public ParkedReplies Parked { get; }

    public TimerHeap Timers => _timers;

    /// <summary>Connections that have fetched tasks and are open (external workers).</summary>
    public int Fetchers => _commands.Workers.Fetchers;

    public ServerOptions Options => _options;

    public WorkerPool Workers => _workers;

    public string BackendName => _multiplexer.Name;

    public int Port { get; }

    public DateTime StartedAt { get; }

    public long WakeSignals => _wakeup.Signals;

    /// <summary>Connection buffers kept for reuse by the reactor's pool.</summary>
    public int PooledBuffers => _buffers.Retained;

    public double OpsPerSecond => _opsPerSecond.Current;

    /// <summary>Completes when the loop has exited and every connection is closed.</summary>
    public Task Completion => _completion.Task;

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
        try
        {
            _now = Stopwatch.GetTimestamp();
            // Runs every periodic path once now, while descriptors are plentiful to load what it needs; it then reschedules itself.
            Housekeeping();
            while (!(_stopping && IsDrained()))
                RunOnce();
            _completion.TrySetResult();
        }
        catch (Exception fatal)
        {
            _log($"reactor failed: {fatal}");
            _completion.TrySetException(fatal);
        }
        finally
        {
            CloseEverything();
        }
    }

    private void RunOnce()
    {
        FlushPendingWrites();
        int timeout = _timers.MillisecondsUntilNext(_now);
        _wakeup.PrepareToSleep();
        if (!_completions.IsEmpty || _readAgain.Count > 0 || _acceptAgain || (_stopRequested && !_stopping)
            || (!_stopping && _queuedTasks.CanDispatch))
            timeout = 0;
        int ready = _multiplexer.Wait(_events, timeout);
        _wakeup.Awake();
        _now = Stopwatch.GetTimestamp();
        _clock.NowTicks = _now;
        Stats.Iterations++;
        Stats.EventsReturned += ready;
        for (int i = 0; i < ready; i++)
            HandleEvent(_events[i]);
        ContinueEdgeTriggeredReads();
        if (_acceptAgain && _listenFd >= 0)
            AcceptPending();
        DrainCompletions();
        RetryStalled();
        if (_stopRequested && !_stopping)
            BeginStop();
        _timers.RunDue(_now);
        Store.ServeBlockedFetches();
        if (!_stopping)
            DispatchQueuedTasks();
        _workers.WakeWorkersForQueuedItems();
    }

    private void DispatchQueuedTasks()
    {
        int dispatched = _queuedTasks.Dispatch();
        _running += dispatched;
        Stats.TasksSubmitted += dispatched;
    }

    private void HandleEvent(ReadyEvent ready)
    {
        if (ready.Fd == _listenFd)
        {
            AcceptPending();
            return;
        }
        if (ready.Fd == _wakeup.Fd)
        {
            _wakeup.Drain();
            Stats.Wakeups++;
            return;
        }
        // Null when an earlier event of this batch closed it: a stale event must not touch it. (If that
        // descriptor number was reused by a connection accepted in this batch, the stale event reaches the
        // new connection as a spurious readiness: its read or send finds EAGAIN, which is harmless.)
        Connection? connection = ready.Fd < _connections.Length ? _connections[ready.Fd] : null;
        if (connection is null)
            return;
        try
        {
            if ((ready.Ready & Interest.Read) != 0)
                ReadFrom(connection);
            // Send what the reads produced now rather than after the whole batch: the output buffer goes
            // straight back to the pool, so a burst over many connections needs one buffer, not one each.
            bool writable = (ready.Ready & Interest.Write) != 0 || connection.OutputLength > 0 && !connection.AwaitingWritable;
            if (writable && !connection.Closed)
                FlushConnection(connection);
        }
        catch (Exception unexpected) when (unexpected is not MultiplexerException)
        {
            // A bug or a resource failure while serving one connection costs that connection, not the server.
            _log($"closing client {connection.Id} after an unexpected error: {unexpected}");
            Close(connection);
        }
    }

    // ---------------------------------------------------------------- accepting

    private void AcceptPending()
    {
        // Edge-triggered: a budget spent before EAGAIN leaves connections no new edge will announce.
        _acceptAgain = _multiplexer.IsEdgeTriggered;
        for (int i = 0; i < _options.AcceptBudget; i++)
        {
            int fd = Sockets.Accept(_listenFd);
            Stats.AcceptCalls++;
            if (fd < 0)
            {
                int errno = -fd;
                if (errno == Errno.ECONNABORTED || errno == Errno.EINTR)
                    continue;
                _acceptAgain = false;
                if (errno == Errno.EMFILE || errno == Errno.ENFILE)
                {
                    if (!_descriptorReserve.ShedPendingConnections(_listenFd, MaxClientsReply))
                        PauseAccepting(TimeSpan.FromMilliseconds(100));
                }
                else if (errno != Errno.EAGAIN)
                    _log($"accept failed: {Errno.Describe(errno)}");
                return;
            }
            Admit(fd);
        }
    }

    /// <summary>Stops watching the listener for <paramref name="pause"/>: the last resort against spinning on EMFILE.</summary>
    private void PauseAccepting(TimeSpan pause)
    {
        _multiplexer.Register(_listenFd, Interest.None);
        _timers.Schedule(pause, () =>
        {
            if (_listenFd >= 0)
                _multiplexer.Register(_listenFd, Interest.Read);
        });
    }

    private void Admit(int fd)
    {
        if (Stats.ConnectedClients >= _options.MaxClients || _stopping)
        {
            Refuse(fd, MaxClientsReply);
            return;
        }
        try
        {
            _multiplexer.Register(fd, Interest.Read);
        }
        catch (MultiplexerException refused)
        {
            _log($"refusing a connection: {refused.Message}");
            Refuse(fd, "-ERR too many connections for the select backend\r\n"u8);
            return;
        }
        Sockets.SetNoDelay(fd);
        if (fd >= _connections.Length)
            Array.Resize(ref _connections, Math.Max(fd + 1, _connections.Length * 2));
        _connections[fd] = new Connection(fd, ++_nextConnectionId, _now, _buffers) { Authenticated = _options.RequirePass is null };
        Stats.ConnectedClients++;
        Stats.ConnectionsAccepted++;
    }

    /// <summary>Best-effort error line to a connection that will not be served, then close.</summary>
    private void Refuse(int fd, ReadOnlySpan<byte> reply)
    {
        Sockets.SendAndClose(fd, reply);
        Stats.ConnectionsRejected++;
    }

    // ---------------------------------------------------------------- reading and parsing

    private void ReadFrom(Connection connection)
    {
        if (!CanParse(connection))
        {
            if (connection.LingerUntil != 0)
            {
                DiscardInput(connection);
                return;
            }
            // Not watched for input, yet reported: an error or hang-up, which every backend reports
            // regardless of interest. A reset peer must be closed now, or a level-triggered wait would
            // return at once, every time, until the connection is resumed.
            if (Sockets.PendingError(connection.Fd) != 0)
                Close(connection);
            return;
        }
        bool drainToEagain = _multiplexer.IsEdgeTriggered;
        for (int reads = 0; reads < _options.ReadBudget; reads++)
        {
            if (!CanParse(connection))
                return;
            Span<byte> target = ReadTarget(connection, out bool shared);
            int n = Sockets.Read(connection.Fd, target);
            Stats.ReadCalls++;
            if (n < 0)
            {
                if (-n != Errno.EAGAIN)
                    Close(connection);
                return;
            }
            if (n == 0)
            {
                EndOfInput(connection);
                return;
            }
            Stats.BytesRead += n;
            connection.LastActiveAt = _now;
            Consume(connection, shared, n);
            // Level-triggered: a short read means the socket is drained, and anything that arrives
            // later is reported again, so the EAGAIN-returning read is a syscall saved.
            if (!drainToEagain && n < target.Length)
                return;
        }
        if (drainToEagain && !connection.Closed && CanParse(connection))
            _readAgain.Add(connection); // budget spent: an edge will not come again, so come back ourselves
    }

    /// <summary>Reads and drops what a lingering connection's peer still sends; closes at its end of input or error.</summary>
    private void DiscardInput(Connection connection)
    {
        for (int reads = 0; reads < _options.ReadBudget; reads++)
        {
            int n = Sockets.Read(connection.Fd, _readBuffer);
            Stats.ReadCalls++;
            if (n == -Errno.EAGAIN)
                return;
            if (n <= 0)
            {
                Close(connection);
                return;
            }
        }
        if (_multiplexer.IsEdgeTriggered)
            _readAgain.Add(connection);
    }

    /// <summary>Where the next read lands: the shared buffer, or after the partial request a connection carries.</summary>
    private Span<byte> ReadTarget(Connection connection, out bool shared)
    {
        shared = connection.InputLength == 0;
        if (shared)
            return _readBuffer;
        // The parser's hint sizes the buffer once for a large argument instead of doubling it read by read.
        int wanted = Math.Max(ReadBufferSize / 4, connection.InputNeeded - connection.Input.Length);
        return connection.Input.GetSpan(wanted);
    }

    private void Consume(Connection connection, bool shared, int n)
    {
        if (shared)
        {
            ReadOnlySpan<byte> data = _readBuffer.AsSpan(0, n);
            int consumed = ParseAndDispatch(connection, data);
            if (consumed < n && !connection.Closed)
            {
                connection.Input.Write(data[consumed..]);
                connection.IncompleteSince = _now;
            }
        }
        else
        {
            connection.Input.Advance(n);
            ParseCarriedInput(connection);
        }
        if (connection.InputLength > _options.MaxRequestBytes && !connection.Closed)
            FailProtocol(connection, $"Protocol error: request larger than {_options.MaxRequestBytes} bytes");
    }

    /// <summary>Parses what the connection carries over from earlier reads, when there can be a whole request in it.</summary>
    private void ParseCarriedInput(Connection connection)
    {
        if (connection.InputLength == 0 || connection.InputLength < connection.InputNeeded)
            return;
        PooledBuffer input = connection.Input;
        int consumed = ParseAndDispatch(connection, input.WrittenSpan);
        if (connection.Closed)
            return;
        input.Consume(consumed);
        if (input.Length == 0)
            input.Release();
        else if (consumed > 0)
            connection.IncompleteSince = _now; // a new request began: its own time limit starts now
    }

    /// <summary>Parses and runs complete requests from <paramref name="data"/>; returns the bytes used.</summary>
    private int ParseAndDispatch(Connection connection, ReadOnlySpan<byte> data)
    {
        int offset = 0;
        connection.InputNeeded = 0;
        while (offset < data.Length && CanParse(connection))
        {
            ParseStatus status = _parser.TryParse(data[offset..], out RespCommand command, out int consumed);
            if (status == ParseStatus.Incomplete)
            {
                connection.InputNeeded = _parser.MinimumBytes;
                if (connection.InputNeeded > _options.MaxRequestBytes)
                {
                    FailProtocol(connection, $"Protocol error: request larger than {_options.MaxRequestBytes} bytes");
                    return data.Length;
                }
                break;
            }
            if (status == ParseStatus.Error)
            {
                FailProtocol(connection, _parser.ErrorMessage!);
                return data.Length;
            }
            offset += consumed;
            if (command.Count == 0)
                continue;
            Stats.Commands++;
            _commands.Execute(connection, command);
            if (connection.Closed || ExceedsOutputLimit(connection))
                return data.Length;
        }
        return offset;
    }

    private bool CanParse(Connection connection) =>
        !connection.Closed && !connection.Stalled && !connection.CloseAfterReplies && !_stopping
        && connection.PendingCount < _options.MaxInflight;

    private void EndOfInput(Connection connection)
    {
        connection.InputEnded = true;
        connection.ReleaseInput();
        if (connection.PendingCount == 0 && connection.OutputLength == 0)
            Close(connection);
        else
            UpdateInterest(connection);
    }

    /// <summary>Answers a malformed request with its error, after the replies already owed, then closes.</summary>
    private void FailProtocol(Connection connection, string message)
    {
        Stats.ProtocolErrors++;
        RespWriter.WriteError(BeginReply(connection), "ERR " + message);
        connection.CloseAfterReplies = true;
        connection.ReleaseInput();
        UpdateInterest(connection);
    }

    private void ContinueEdgeTriggeredReads()
    {
        if (_readAgain.Count == 0)
            return;
        // Swap lists: ReadFrom may queue a connection again for the next iteration.
        (_readAgain, _readingAgain) = (_readingAgain, _readAgain);
        foreach (Connection connection in _readingAgain)
        {
            if (!connection.Closed)
                ReadFrom(connection);
        }
        _readingAgain.Clear();
    }

    // ---------------------------------------------------------------- replies and tasks

    /// <summary>
    /// Where an inline reply for <paramref name="connection"/> goes: straight to its output when nothing
    /// is owed before it, otherwise into a completed entry queued behind the pending tasks.
    /// </summary>
    public IBufferWriter<byte> BeginReply(Connection connection)
    {
        if (connection.FirstPending is null)
        {
            ScheduleFlush(connection);
            return connection.Output;
        }
        WorkItem item = RentItem(connection);
        item.BeginInlineReply();
        item.State = WorkState.Complete;
        connection.AppendPending(item);
        return item.Reply;
    }

    /// <summary>Queues <paramref name="task"/> with the arguments after <c>RUN name</c>; a full ring stalls the connection.</summary>
    public void Submit(Connection connection, TaskDefinition task, in RespCommand command)
    {
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
                posted(); // work posted by another thread (the embedding API), not a finished task
                Recycle(item);
                item = next;
                continue;
            }
            _running--;
            Stats.TasksCompleted++;
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
            if (done.Reply.Length > _options.MaxOutputBytes)
                RespWriter.WriteError(connection.Output, $"ERR reply of {done.Reply.Length} bytes exceeds max-output-bytes ({_options.MaxOutputBytes})");
            else
                connection.Output.Write(done.Reply.WrittenSpan);
            Recycle(done);
        }
        if (ExceedsOutputLimit(connection))
            return;
        ScheduleFlush(connection);
        if (wasFull && connection.PendingCount < _options.MaxInflight)
            ResumeInput(connection);
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
        ParseCarriedInput(connection);
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

    // ---------------------------------------------------------------- writing

    private void ScheduleFlush(Connection connection)
    {
        if (connection.InFlushList)
            return;
        connection.InFlushList = true;
        _flushList.Add(connection);
    }

    /// <summary>Sends what every connection accumulated this iteration: one send per connection.</summary>
    private void FlushPendingWrites()
    {
        for (int i = 0; i < _flushList.Count; i++)
        {
            Connection connection = _flushList[i];
            connection.InFlushList = false;
            if (!connection.Closed && !connection.AwaitingWritable)
                FlushConnection(connection);
        }
        _flushList.Clear();
    }

    private void FlushConnection(Connection connection)
    {
        PooledBuffer output = connection.Output;
        if (output.Length > 0)
        {
            int sent = Sockets.Send(connection.Fd, output.WrittenSpan);
            Stats.WriteCalls++;
            if (sent < 0 && -sent != Errno.EAGAIN)
            {
                Close(connection); // EPIPE, ECONNRESET: the peer is gone
                return;
            }
            if (sent > 0)
            {
                output.Consume(sent);
                Stats.BytesWritten += sent;
            }
        }
        if (output.Length == 0)
        {
            output.Release();
            connection.AwaitingWritable = false;
            if (connection.PendingCount == 0 && (connection.CloseAfterReplies || connection.InputEnded || _stopping))
            {
                Finish(connection);
                return;
            }
        }
        else if (ExceedsOutputLimit(connection))
        {
            return;
        }
        else
        {
            connection.AwaitingWritable = true;
        }
        UpdateInterest(connection);
    }

    /// <summary>
    /// A connection that made the server buffer megabytes (a peer not reading, a huge request) has gone.
    /// The loop allocates nothing in steady state, so the next collection could be hours away: collect
    /// now and give those pages back (at most once a second; a compacting full collection of a heap
    /// this small takes milliseconds).
    /// </summary>
    private void ReturnMemoryToTheSystem()
    {
        if (_now - _lastMemoryReturn < Stopwatch.Frequency)
            return;
        _lastMemoryReturn = _now;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    /// <summary>Disconnects a peer whose unsent replies passed max-output-bytes: it is not reading them.</summary>
    private bool ExceedsOutputLimit(Connection connection)
    {
        if (connection.OutputLength <= _options.MaxOutputBytes)
            return false;
        Stats.OutputLimitDisconnects++;
        _log($"closing client {connection.Id}: {connection.Output.Length} unsent bytes exceed max-output-bytes ({_options.MaxOutputBytes})");
        Close(connection);
        return true;
    }

    /// <summary>
    /// Every owed reply is sent: close. After QUIT or a protocol error the peer may have sent more that was
    /// never read, and closing with unread input makes the kernel answer with a reset, which can destroy
    /// replies the peer has not read yet. So such a connection first lingers: our side is shut down (the
    /// peer reads a FIN after the replies) and its input is discarded until it closes, for at most
    /// <see cref="LingerTimeout"/>.
    /// </summary>
    private void Finish(Connection connection)
    {
        if (connection.LingerUntil != 0)
            return; // already lingering
        if (connection.InputEnded || _stopping)
        {
            Close(connection);
            return;
        }
        Sockets.ShutdownWrite(connection.Fd);
        connection.ReleaseInput();
        connection.LingerUntil = _now + Ticks(LingerTimeout);
        _lingering.Add(connection);
        UpdateInterest(connection);
    }

    private void UpdateInterest(Connection connection)
    {
        Interest wanted = Interest.None;
        if ((CanParse(connection) && !connection.InputEnded) || connection.LingerUntil != 0)
            wanted |= Interest.Read;
        if (connection.AwaitingWritable)
            wanted |= Interest.Write;
        if (wanted == connection.Interest)
            return;
        connection.Interest = wanted;
        Stats.InterestChanges++;
        _multiplexer.Register(connection.Fd, wanted);
    }

    private void Close(Connection connection)
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
            if (item.State != WorkState.Running)
                Recycle(item);
            item = next;
        }
        connection.FirstPending = connection.LastPending = null;
        connection.PendingCount = 0;
        _commands.Workers.ConnectionClosed(connection);
        bool heldLargeBuffers = connection.LargestBuffer > ReactorArrayPool.LargestPooled;
        connection.ReleaseBuffers();
        if (heldLargeBuffers)
            ReturnMemoryToTheSystem();
    }

    // ---------------------------------------------------------------- housekeeping and stopping

    private void Housekeeping()
    {
        _opsPerSecond.Sample(Stats.Commands, _now);
        if (_opsPerSecond.SampleCount % HousekeepingHz == 0)
            EnforceTimeouts();
        if (_options.TaskTimeout > TimeSpan.Zero)
            EnforceTaskTimeouts();
        if (_lingering.Count > 0)
            CloseLingeringUntil(_stopping ? long.MaxValue : _now);
        if (_stopping && _now > _stopDeadline)
            ForceStop();
        _timers.Schedule(_housekeeping, _now + Stopwatch.Frequency / HousekeepingHz);
    }

    /// <summary>Closes the lingering connections whose time is up by <paramref name="time"/>, and forgets those already closed.</summary>
    private void CloseLingeringUntil(long time)
    {
        for (int i = _lingering.Count - 1; i >= 0; i--)
        {
            Connection connection = _lingering[i];
            if (!connection.Closed && connection.LingerUntil > time)
                continue;
            Close(connection);
            _lingering.RemoveAt(i);
        }
    }

    /// <summary>Once a second: idle connections and requests left incomplete too long (slow loris) are closed.</summary>
    private void EnforceTimeouts()
    {
        long idleTicks = Ticks(_options.IdleTimeout);
        long requestTicks = Ticks(_options.RequestTimeout);
        if (idleTicks == 0 && requestTicks == 0)
            return;
        foreach (Connection connection in OpenConnections().ToList())
        {
            if (idleTicks > 0 && connection.PendingCount == 0 && _now - connection.LastActiveAt > idleTicks)
            {
                Stats.IdleTimeoutDisconnects++;
                Close(connection);
            }
            else if (requestTicks > 0 && connection.InputLength > 0 && !connection.Stalled && !connection.CloseAfterReplies
                     && connection.PendingCount < _options.MaxInflight && _now - connection.IncompleteSince > requestTicks)
            {
                Stats.RequestTimeoutDisconnects++;
                FailProtocol(connection, $"request incomplete for more than {_options.RequestTimeout.TotalSeconds:0.###} s");
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

    private static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    /// <summary>Stops accepting and reading; each connection closes once its owed replies are sent.</summary>
    private void BeginStop()
    {
        _stopping = true;
        _stopDeadline = _now + (long)(_options.ShutdownTimeout.TotalSeconds * Stopwatch.Frequency);
        _multiplexer.Unregister(_listenFd);
        Sockets.Close(_listenFd);
        _listenFd = -1;
        _log($"stopping: {Stats.ConnectedClients} connection(s), {_running} task(s) running");
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

    private bool IsDrained() => Stats.ConnectedClients == 0 && (_running == 0 || _forcedStop);

    /// <summary>The shutdown deadline passed: cancel asynchronous tasks and drop the connections still waiting.</summary>
    private void ForceStop()
    {
        _log($"shutdown deadline passed: closing {Stats.ConnectedClients} connection(s) with replies still owed");
        _forcedStop = true;
        _workers.AbortAsyncTasks();
        foreach (Connection connection in OpenConnections().ToList())
            Close(connection);
    }

    private void CloseEverything()
    {
        foreach (Connection connection in OpenConnections().ToList())
            Close(connection);
        if (_listenFd >= 0)
            Sockets.Close(_listenFd);
        _listenFd = -1;
        _workers.AbortAsyncTasks();
        _workers.Stop();
    }

    public void Dispose()
    {
        _multiplexer.Dispose();
        _wakeup.Dispose();
    }
}
