using System.Diagnostics;
using System.Net;
using EventLoop.Client;
using EventLoop.Multiplexing;
using EventLoop.Native;
using HdrHistogram;

namespace EventLoop.Cli.Load;

/// <summary>Why a load thread stopped.</summary>
internal enum WorkerOutcome
{
    /// <summary>Its bound was reached and every request in flight was answered or timed out.</summary>
    Completed,
    /// <summary>The run was cancelled (Ctrl+C, or the caller's token).</summary>
    Cancelled,
    /// <summary>Every connection attempt failed and none ever succeeded.</summary>
    NoConnection,
    /// <summary>Its connections were lost and none could be reopened for <c>--timeout</c>.</summary>
    ServerUnreachable,
}

/// <summary>
/// One load thread: its own multiplexer, its share of the connections, its own histograms.
/// Nothing on the per-request path is shared, locked, or allocated: requests are copied from a
/// pre-encoded batch, replies are scanned in place, send times live in per-connection rings.
/// In a lifecycle run (<c>--lifecycle</c>) each connection composes its SUBMITs and RESULTs in
/// its own <see cref="LifecycleSlot"/> instead, and one sample is a whole lifecycle.
/// </summary>
/// <remarks>
/// Owned by the thread that calls <see cref="Run"/>. Other threads may read the progress
/// counters (<see cref="Replies"/>, <see cref="OpenConnections"/>, <see cref="ErrorCount"/>)
/// while it runs, and everything else after it returned.
/// </remarks>
internal sealed class LoadWorker : IDisposable
{
    private const int ConnectsPerIteration = 256; // lets replies interleave with a large connect burst
    private const int ReadsPerEvent = 8;          // fairness between busy connections
    private static readonly long HousekeepingTicks = Stopwatch.Frequency / 10;
    private static readonly long ReconnectDelayTicks = Stopwatch.Frequency / 10;
    private static readonly long ConnectCatchUpTicks = Stopwatch.Frequency / 100;
    private static readonly double MicrosecondsPerTick = 1e6 / Stopwatch.Frequency;

    private readonly IPEndPoint _endpoint;
    private readonly RunClock _clock;
    private readonly LatencyRecorder _recorder;
    private readonly IMultiplexer _multiplexer;
    private readonly WakeTimer _timer = new();
    private readonly LoadConnection[] _busy;
    private readonly LoadConnection[] _all; // busy first, then idle: the order of the first connects
    private LoadConnection?[] _byFd = new LoadConnection?[1024];
    private readonly Queue<LoadConnection> _connectQueue; // ordered by NotBefore: delays are constant
    private readonly RequestBatch? _batch;    // request runs: the pre-encoded requests; null in a lifecycle run
    private readonly Random _random = new();  // lifecycle tags
    private readonly byte[] _readBuffer = new byte[64 * 1024];
    private readonly ReadyEvent[] _events = new ReadyEvent[512];
    private readonly LoadConnection[] _refills; // connections that got replies in this batch of events
    private int _refillCount;
    private readonly LongHistogram _latency = LatencyRecorder.CreateHistogram();
    private readonly LongHistogram _uncorrected = LatencyRecorder.CreateHistogram();
    private readonly LongHistogram _connectTime = LatencyRecorder.CreateHistogram();
    private readonly long[] _errors = new long[ErrorKinds.All.Length];

    private readonly long _connectInterval;  // ticks between connects; 0 = unlimited
    private readonly long? _requestShare;     // measured requests this thread sends, or null
    private readonly long _sendUntil;         // no request meant for this time or later is sent
    private readonly OpenLoopSchedule? _schedule;
    private readonly int _batchSize;          // requests sent together: the pipeline in batch mode, else 1

    private long _replies;
    private int _open;
    private long _nextConnectAt;
    private long _nextTick;                   // open loop: the next tick of the schedule to announce
    private long _nextHousekeepingAt;
    private long _issuedMeasured;
    private int _inFlight;
    private int _openBusy;
    private long _lastBusyOpenAt;
    private long _failedConnects;
    private volatile bool _stopRequested;

    public LoadWorker(LoadOptions options, WorkerPlan plan, RunClock clock, IPEndPoint endpoint,
        RequestTemplate template, LifecycleTemplate? lifecycle, LatencyRecorder recorder)
    {
        _multiplexer = MultiplexerFactory.Create(options.Backend);
        _endpoint = endpoint;
        _clock = clock;
        _recorder = recorder;
        _busy = new LoadConnection[plan.BusyConnections];
        for (int i = 0; i < _busy.Length; i++)
            _busy[i] = new LoadConnection(i, isIdle: false, options.Pipeline, lifecycle);
        _all = [.. _busy, .. Enumerable.Range(0, plan.IdleConnections).Select(i => new LoadConnection(i, isIdle: true, 0))];
        _connectQueue = new Queue<LoadConnection>(_all.Length);
        _refills = new LoadConnection[_busy.Length];
        _batch = lifecycle is null ? new RequestBatch(template, options.Pipeline) : null;
        _connectInterval = plan.ConnectRate > 0 ? (long)(Stopwatch.Frequency / plan.ConnectRate) : 0;
        _nextConnectAt = clock.Start;
        _lastBusyOpenAt = clock.Start;
        _sendUntil = clock.SendUntil;
        _requestShare = plan.Requests;
        _batchSize = options.PipelineMode == PipelineMode.Batch ? options.Pipeline : 1;
        if (options.IsOpenLoop)
            _schedule = new OpenLoopSchedule(clock.Start + plan.RatePhase,
                Stopwatch.Frequency * _batchSize / plan.Rate, _busy.Length);
    }

    public long Replies => Volatile.Read(ref _replies);
    public int OpenConnections => Volatile.Read(ref _open);
    public long ErrorCount
    {
        get
        {
            long total = 0;
            for (int i = 0; i < _errors.Length; i++)
                total += Volatile.Read(ref _errors[i]);
            return total;
        }
    }

    // Results, read after Run returned.
    public WorkerOutcome Outcome { get; private set; }
    public long Measured { get; private set; }
    public long LastMeasuredReplyAt { get; private set; }
    public long Connects { get; private set; }
    public int PeakOpen { get; private set; }
    public string? FirstError { get; private set; }
    /// <summary>Busy connections that received at least one reply.</summary>
    public int AnsweredConnections => _busy.Count(c => c.WasAnswered);

    /// <summary>Bytes this thread allocated after the warm-up: the "no allocation per request" check.</summary>
    public long AllocatedWhileMeasuring { get; private set; }

    /// <summary>Share of the time after the warm-up this thread spent on a CPU (near 1: it was the bottleneck).</summary>
    public double BusyWhileMeasuring { get; private set; }
    public IReadOnlyList<long> Errors => _errors;

    /// <summary>Asks the thread to stop soon; safe from any thread.</summary>
    public void RequestStop() => _stopRequested = true;

    /// <summary>The thread body: runs until the bound is reached or the run cannot go on.</summary>
    public void Run()
    {
        WakeTimer.TightenSlackForThisThread();
        _multiplexer.Register(_timer.Fd, Interest.Read);
        foreach (LoadConnection connection in _all)
        {
            connection.NotBefore = _clock.Start;
            _connectQueue.Enqueue(connection);
        }
        try
        {
            RunLoop();
        }
        finally
        {
            CloseAll();
            _recorder.Absorb(_latency, _uncorrected, _connectTime);
        }
    }

    private void RunLoop()
    {
        long allocatedAtMeasureStart = -1;
        double cpuAtMeasureStart = 0;
        long measureStartedAt = 0;
        while (true)
        {
            long now = RunClock.Now;
            if (allocatedAtMeasureStart < 0 && now >= _clock.MeasureFrom)
            {
                allocatedAtMeasureStart = GC.GetAllocatedBytesForCurrentThread();
                cpuAtMeasureStart = ThreadCpuClock.Seconds();
                measureStartedAt = now;
            }
            StartDueConnects(now);
            if (_schedule is not null)
                AnnounceDueRequests(_schedule, now);
            if (now >= _nextHousekeepingAt)
                Housekeeping(now);
            if (IsFinished(now))
            {
                if (allocatedAtMeasureStart >= 0)
                {
                    AllocatedWhileMeasuring = GC.GetAllocatedBytesForCurrentThread() - allocatedAtMeasureStart;
                    double wall = RunClock.Seconds(now - measureStartedAt);
                    BusyWhileMeasuring = wall > 0 ? (ThreadCpuClock.Seconds() - cpuAtMeasureStart) / wall : 0;
                }
                return;
            }
            _timer.ArmFor(NextDeadline(now), now);
            int ready = _multiplexer.Wait(_events, -1);
            for (int i = 0; i < ready; i++)
                Dispatch(_events[i]);
            SendRefills();
        }
    }

    private bool IsFinished(long now)
    {
        if (_stopRequested)
            Outcome = WorkerOutcome.Cancelled;
        else if (Connects == 0 && _failedConnects >= _all.Length)
            Outcome = WorkerOutcome.NoConnection;
        else if (_openBusy == 0 && now - _lastBusyOpenAt > _clock.TimeoutTicks && !SendingIsOver(now))
            Outcome = WorkerOutcome.ServerUnreachable;
        else if (SendingIsOver(now) && _inFlight == 0)
            Outcome = WorkerOutcome.Completed;
        else
            return false;
        return true;
    }

    /// <summary>
    /// True once no more requests will be sent. In open loop every request meant for before the end
    /// has been handed to a connection by then, and a connection with room sends its due requests
    /// at once, so "no requests in flight" also means "no backlog".
    /// Requests count when sent: rounds skipped while a connection was down do not use the budget.
    /// </summary>
    private bool SendingIsOver(long now) =>
        now >= _sendUntil || (_requestShare is long share && _issuedMeasured >= share);

    private long NextDeadline(long now)
    {
        long deadline = _nextHousekeepingAt;
        if (now < _sendUntil)
            deadline = Math.Min(deadline, _sendUntil);
        if (_connectQueue.TryPeek(out LoadConnection? next))
            deadline = Math.Min(deadline, Math.Max(next.NotBefore, _nextConnectAt));
        if (_schedule is not null && _schedule.IntendedAt(_nextTick) < _sendUntil && !SendingIsOver(now))
            deadline = Math.Min(deadline, _schedule.IntendedAt(_nextTick));
        return deadline;
    }

    private void Dispatch(ReadyEvent ready)
    {
        if (ready.Fd == _timer.Fd)
        {
            _timer.Acknowledge();
            return;
        }
        LoadConnection? connection = ready.Fd < _byFd.Length ? _byFd[ready.Fd] : null;
        if (connection is null)
            return; // closed earlier in this batch of events
        if (connection.State == ConnectionState.Connecting)
        {
            OnConnectFinished(connection, RunClock.Now);
            return;
        }
        if ((ready.Ready & Interest.Read) != 0)
            OnReadable(connection);
        if ((ready.Ready & Interest.Write) != 0 && connection.State == ConnectionState.Open && connection.HasUnsent)
            OnWritable(connection, RunClock.Now);
    }

    // ---- connecting -------------------------------------------------------------------------

    private void StartDueConnects(long now)
    {
        for (int budget = ConnectsPerIteration; budget > 0; budget--)
        {
            if (!_connectQueue.TryPeek(out LoadConnection? connection) || connection.NotBefore > now || now < _nextConnectAt)
                return;
            _connectQueue.Dequeue();
            if (SendingIsOver(now))
                continue; // no new connections once the run is winding down
            StartConnect(connection, now);
            if (_connectInterval > 0)
                _nextConnectAt = Math.Max(_nextConnectAt, now - ConnectCatchUpTicks) + _connectInterval;
        }
    }

    private void StartConnect(LoadConnection connection, long now)
    {
        long startedAt = RunClock.Now; // not the iteration's time: earlier connects of a burst took some
        int fd = Sockets.Connect(_endpoint);
        if (fd < 0)
        {
            ConnectFailed(connection, ErrorKinds.FromErrno(-fd), $"connect: {Errno.Describe(-fd)}", now);
            return;
        }
        connection.Fd = fd;
        connection.State = ConnectionState.Connecting;
        connection.ConnectStartedAt = startedAt;
        if (fd >= _byFd.Length)
            Array.Resize(ref _byFd, Math.Max(fd + 1, _byFd.Length * 2));
        _byFd[fd] = connection;
        try
        {
            _multiplexer.Register(fd, Interest.Write);
        }
        catch (MultiplexerException e) // e.g. select cannot watch descriptors from 1024 up
        {
            CloseSocket(connection);
            ConnectFailed(connection, ErrorKind.Other, e.Message, now);
        }
    }

    private void OnConnectFinished(LoadConnection connection, long now)
    {
        int error = Sockets.PendingError(connection.Fd);
        if (error != 0)
        {
            CloseSocket(connection);
            ConnectFailed(connection, ErrorKinds.FromErrno(error), $"connect: {Errno.Describe(error)}", now);
            return;
        }
        connection.State = ConnectionState.Open;
        Connects++;
        _open++;
        PeakOpen = Math.Max(PeakOpen, _open);
        _connectTime.RecordValue(Microseconds(now - connection.ConnectStartedAt));
        _multiplexer.Register(connection.Fd, Interest.Read);
        if (connection.IsIdle)
            return;
        _openBusy++;
        _lastBusyOpenAt = now;
        if (_schedule is not null)
            connection.NextRound = _schedule.FirstRoundAtOrAfter(connection.ScheduleIndex, now);
        TrySend(connection, now);
    }

    private void ConnectFailed(LoadConnection connection, ErrorKind kind, string detail, long now)
    {
        _failedConnects++;
        CountError(kind, detail);
        connection.State = ConnectionState.Waiting;
        Requeue(connection, now);
    }

    /// <summary>Closes an open connection after an error; it reconnects after a short delay while the run goes on.</summary>
    private void Drop(LoadConnection connection, ErrorKind kind, string detail, long now)
    {
        CountError(kind, detail);
        _open--;
        if (!connection.IsIdle)
        {
            _openBusy--;
            _inFlight -= connection.Outstanding;
        }
        CloseSocket(connection);
        connection.State = ConnectionState.Waiting;
        Requeue(connection, now);
    }

    private void Requeue(LoadConnection connection, long now)
    {
        connection.NotBefore = now + ReconnectDelayTicks;
        _connectQueue.Enqueue(connection);
    }

    private void CloseSocket(LoadConnection connection)
    {
        _multiplexer.Unregister(connection.Fd);
        Sockets.Close(connection.Fd);
        _byFd[connection.Fd] = null;
        connection.ResetSocketState();
    }

    private void CloseAll()
    {
        foreach (LoadConnection connection in _all)
            if (connection.Fd >= 0)
                CloseSocket(connection);
    }

    // ---- receiving --------------------------------------------------------------------------

    private void OnReadable(LoadConnection connection)
    {
        long now = RunClock.Now;
        // Edge-triggered readiness is not reported again for data left behind: no budget then.
        int budget = _multiplexer.IsEdgeTriggered ? int.MaxValue : ReadsPerEvent;
        for (int reads = 0; reads < budget; reads++)
        {
            int n = Sockets.Read(connection.Fd, _readBuffer);
            if (n > 0)
            {
                now = RunClock.Now;
                if (!connection.IsIdle && !TakeReplies(connection, _readBuffer.AsSpan(0, n), now))
                    return;
                if (n < _readBuffer.Length)
                    break; // a short read means the socket is drained: skip the EAGAIN call
            }
            else if (n == -Errno.EAGAIN)
                break;
            else if (n != -Errno.EINTR)
            {
                if (n == 0)
                    Drop(connection, ErrorKind.Closed, "the server closed a connection", now);
                else
                    Drop(connection, ErrorKinds.FromErrno(-n), $"read: {Errno.Describe(-n)}", now);
                return;
            }
        }
        if (!connection.IsIdle && !connection.RefillQueued)
        {
            connection.RefillQueued = true;
            _refills[_refillCount++] = connection;
        }
    }

    /// <summary>
    /// Sends what the replies of this batch of events made room for. Reading every ready connection
    /// first and sending afterwards hands the server its next requests together, as one round of
    /// its own loop, instead of trickling them in between our reads: at 1,000 connections this
    /// measured higher throughput and a lower p50 than sending after each read.
    /// </summary>
    private void SendRefills()
    {
        for (int i = 0; i < _refillCount; i++)
        {
            LoadConnection connection = _refills[i];
            connection.RefillQueued = false;
            TrySend(connection, RunClock.Now);
        }
        _refillCount = 0;
    }

    /// <summary>Matches complete replies to the oldest requests in flight; false when the connection had to be dropped.</summary>
    private bool TakeReplies(LoadConnection connection, ReadOnlySpan<byte> data, long now)
    {
        LifecycleSlot? lifecycle = connection.Lifecycle;
        while (!data.IsEmpty)
        {
            bool startsReply = !connection.Replies.IsInsideReply;
            RespReadStatus status = connection.Replies.Read(data, out int consumed, out RespKind kind);
            if (lifecycle is not null && connection.InFlight > 0)
                lifecycle.Capture(data[..consumed], startsReply, connection.Oldest.AwaitsResult);
            if (status == RespReadStatus.Incomplete)
                return true;
            if (status == RespReadStatus.Malformed || connection.InFlight == 0)
            {
                Drop(connection, ErrorKind.Protocol, status == RespReadStatus.Malformed
                    ? "the server sent bytes that are not RESP" : "a reply came with no request in flight", now);
                return false;
            }
            InFlightRequest request = connection.Pop();
            connection.WasAnswered = true;
            data = data[consumed..];
            ErrorKind? error = kind == RespKind.Error ? ErrorKind.ErrorReply : null;
            if (lifecycle is not null && lifecycle.Advance(kind, request, out error))
                continue; // the SUBMIT's id came: its RESULT goes out with the next send
            _inFlight--;
            RecordReply(request, now, error, lifecycle);
        }
        return true;
    }

    /// <summary>Records one sample: a request's reply, or the RESULT that ended a lifecycle (then <paramref name="lifecycle"/> describes a failed one).</summary>
    private void RecordReply(in InFlightRequest request, long now, ErrorKind? error, LifecycleSlot? lifecycle)
    {
        Volatile.Write(ref _replies, _replies + 1);
        if (request.IntendedAt < _clock.MeasureFrom)
            return; // warm-up
        Measured++;
        LastMeasuredReplyAt = now;
        _latency.RecordValue(Microseconds(now - request.IntendedAt));
        if (_schedule is not null)
            _uncorrected.RecordValue(Microseconds(now - request.SentAt));
        if (error is ErrorKind kind)
        {
            CountError(kind, null);
            FirstError ??= lifecycle?.DescribeReply(request.AwaitsResult);
        }
    }

    // ---- sending ----------------------------------------------------------------------------

    private void TrySend(LoadConnection connection, long now)
    {
        if (connection.State != ConnectionState.Open || connection.HasUnsent)
            return;
        int results = connection.Lifecycle?.BeginSend(connection) ?? 0; // lifecycles already counted in _inFlight
        int count = _schedule is not null ? TakeDueRounds(connection, _schedule, now) : TakeWindow(connection, now);
        _inFlight += count;
        if (connection.Lifecycle is LifecycleSlot lifecycle)
        {
            if (results + count == 0)
                return;
            (int start, int end) = lifecycle.TakeQueued();
            Send(connection, lifecycle.Bytes(start, end), start, now);
        }
        else if (count > 0)
            Send(connection, _batch!.Prepare(count), 0, now);
    }

    /// <summary>Pushes a new request (in a lifecycle run: a new SUBMIT, written into the connection's send buffer).</summary>
    private void Issue(LoadConnection connection, long intendedAt, long now) =>
        connection.Push(new InFlightRequest(intendedAt, now, connection.Lifecycle?.AppendSubmit(_random) ?? 0));

    /// <summary>Closed loop: fills the pipeline window (in batch mode only once it is empty), within the request budget.</summary>
    private int TakeWindow(LoadConnection connection, long now)
    {
        if (now >= _sendUntil || connection.Room < _batchSize)
            return 0;
        int count = TakeFromBudget(connection.Room, now);
        for (int i = 0; i < count; i++)
            Issue(connection, now, now);
        return count;
    }

    /// <summary>How many of <paramref name="wanted"/> requests meant for <paramref name="intendedAt"/> the request budget allows.</summary>
    private int TakeFromBudget(int wanted, long intendedAt)
    {
        if (_requestShare is not long share || intendedAt < _clock.MeasureFrom)
            return wanted; // unbounded, or warm-up
        int granted = (int)Math.Clamp(share - _issuedMeasured, 0, wanted);
        _issuedMeasured += granted;
        return granted;
    }

    /// <summary>
    /// Open loop: takes every round of this connection's schedule that is due, while the pipeline has
    /// room. A round is one request, or in batch mode a whole pipeline of them, sent once the last
    /// batch is answered; all of a batch's requests are meant for the round's time.
    /// </summary>
    private int TakeDueRounds(LoadConnection connection, OpenLoopSchedule schedule, long now)
    {
        int count = 0;
        while (connection.Room >= _batchSize)
        {
            long intendedAt = schedule.IntendedAt(connection.ScheduleIndex, connection.NextRound);
            int granted = intendedAt > now || intendedAt >= _sendUntil ? 0 : TakeFromBudget(_batchSize, intendedAt);
            if (granted == 0)
                break;
            for (int i = 0; i < granted; i++)
                Issue(connection, intendedAt, now);
            connection.NextRound++;
            count += granted;
        }
        return count;
    }

    /// <summary>Sends <paramref name="bytes"/>, which start at <paramref name="offset"/> of their buffer; a remainder waits for Write readiness.</summary>
    private void Send(LoadConnection connection, ReadOnlySpan<byte> bytes, int offset, long now)
    {
        int sent = Sockets.Send(connection.Fd, bytes);
        if (sent == bytes.Length)
            return;
        if (sent == -Errno.EAGAIN)
            sent = 0;
        else if (sent < 0)
        {
            Drop(connection, ErrorKinds.FromErrno(-sent), $"send: {Errno.Describe(-sent)}", now);
            return;
        }
        connection.UnsentStart = offset + sent;
        connection.UnsentEnd = offset + bytes.Length;
        _multiplexer.Register(connection.Fd, Interest.Read | Interest.Write);
    }

    private void OnWritable(LoadConnection connection, long now)
    {
        int sent = Sockets.Send(connection.Fd, connection.Lifecycle is LifecycleSlot lifecycle
            ? lifecycle.Bytes(connection.UnsentStart, connection.UnsentEnd)
            : _batch!.Remainder(connection.UnsentStart, connection.UnsentEnd));
        if (sent == -Errno.EAGAIN)
            return;
        if (sent < 0)
        {
            Drop(connection, ErrorKinds.FromErrno(-sent), $"send: {Errno.Describe(-sent)}", now);
            return;
        }
        connection.UnsentStart += sent;
        if (connection.HasUnsent)
            return;
        connection.UnsentStart = connection.UnsentEnd = 0;
        _multiplexer.Register(connection.Fd, Interest.Read);
        TrySend(connection, now);
    }

    // ---- open-loop schedule -----------------------------------------------------------------

    /// <summary>Hands every tick that came due to its connection; once each connection had its turn, the rest are already sent or waiting for room.</summary>
    private void AnnounceDueRequests(OpenLoopSchedule schedule, long now)
    {
        for (int poked = 0; ; poked++)
        {
            long intendedAt = schedule.IntendedAt(_nextTick);
            if (intendedAt > now || intendedAt >= _sendUntil || SendingIsOver(now))
                return;
            if (poked == _busy.Length)
            {
                _nextTick = schedule.FirstTickAtOrAfter(now + 1);
                return;
            }
            TrySend(_busy[schedule.ConnectionOf(_nextTick)], now);
            _nextTick++;
        }
    }

    // ---- housekeeping -----------------------------------------------------------------------

    private void Housekeeping(long now)
    {
        _nextHousekeepingAt = now + HousekeepingTicks;
        foreach (LoadConnection connection in _all)
        {
            if (connection.State == ConnectionState.Connecting && now - connection.ConnectStartedAt > _clock.TimeoutTicks)
            {
                CloseSocket(connection);
                ConnectFailed(connection, ErrorKind.Timeout, "connect: no answer within --timeout", now);
            }
            else if (connection.State == ConnectionState.Open && connection.InFlight > 0
                     && now - connection.Oldest.SentAt > _clock.TimeoutTicks)
            {
                Drop(connection, ErrorKind.Timeout, "no reply within --timeout", now);
            }
        }
        _recorder.Absorb(_latency, _uncorrected, _connectTime);
    }

    private void CountError(ErrorKind kind, string? detail)
    {
        Volatile.Write(ref _errors[(int)kind], _errors[(int)kind] + 1);
        FirstError ??= detail;
    }

    private static long Microseconds(long ticks) =>
        Math.Clamp((long)(ticks * MicrosecondsPerTick), 0, LatencyRecorder.HighestMicroseconds);

    public void Dispose()
    {
        _timer.Dispose();
        _multiplexer.Dispose();
    }
}
