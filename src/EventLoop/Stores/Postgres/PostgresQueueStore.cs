using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text;
using EventLoop.Commands;
using EventLoop.Protocol;
using EventLoop.Queueing;
using EventLoop.Reactor;
using EventLoop.Tasks;
using EventLoop.Timers;
using EventLoop.Diagnostics;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace EventLoop.Stores.Postgres;

/// <summary>
/// The task queue in PostgreSQL (<c>--store postgres://…</c>), shared by every node on the same database. Each verb
/// becomes one statement (<see cref="PostgresSchema"/>) that the reactor collects; the first request of a loop
/// iteration posts a flush to the completion queue, which runs after every read of that iteration, so one
/// iteration's requests go to the <see cref="PostgresStoreThread"/> as one batch. Answers come back through the
/// completion queue into reply slots held in request order. RESULT … TIMEOUT, WAIT and FETCH … BLOCK park and are
/// woken by this node's own changes, by the other nodes' NOTIFY (<see cref="PostgresListener"/>), or by the
/// safety poll. The administration verbs and the --max-tasks estimate are in PostgresAdministration.cs; schedules
/// fire on one node of all, the <see cref="PostgresScheduleLeader"/>. Reactor-owned, except where a member says otherwise.
/// </summary>
internal sealed partial class PostgresQueueStore : IQueueStore, IDisposable
{
    /// <summary>The sweep (expired leases, timeouts, expired results) and the safety poll run this often.</summary>
    private const int TickMs = 250;

    private readonly ReactorLoop _reactor;
    private readonly TaskRegistry _tasks;
    private readonly ILogger _logger;
    private readonly NpgsqlDataSource _source;
    private readonly PostgresStoreThread _thread;
    /// <summary>The second connection: this node's in-process runs claim and settle on it, so PostgreSQL works on them in a backend of their own beside the clients' statements.</summary>
    private readonly PostgresStoreThread _runsThread;
    private readonly PostgresListener _listener;
    private readonly InProcessRuns _runs;
    private readonly PostgresScheduleLeader _leader;
    private readonly PostgresVacuum _vacuum;
    private readonly PostgresOverview _overview;
    private readonly Action _flush;
    private readonly CallbackTimer _tick;
    private List<StoreRequest> _pending = [];
    private List<StoreRequest> _runsPending = [];
    private List<SettleRequest> _settleLater = [];
    private bool _flushPosted;
    private int _ticks;
    private readonly Dictionary<long, List<IStoreWaiter>> _waiters = [];
    private readonly List<FetchRequest> _blocked = [];
    private long _handed; // the last StoreRequest.Order given
    private readonly HashSet<string> _readyToTell = new(StringComparer.Ordinal);
    private readonly List<long> _doneToTell = [];
    private readonly Dictionary<Connection, List<(long Id, int Attempt)>> _deliveries = [];
    private readonly Action<int> _countExpired, _countRequeuedOnClose;
    private readonly Dictionary<string, TaskQueue> _queues = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TaskDefinition> _definitions = new(StringComparer.Ordinal);
    private readonly string _database;
    /// <summary>Statements handed to the store thread and not back yet.</summary>
    private int _inFlight;

    private PostgresQueueStore(ReactorLoop reactor, TaskRegistry tasks, NpgsqlDataSource source, NpgsqlConnectionStringBuilder settings)
    {
        _reactor = reactor;
        _source = source;
        _tasks = tasks;
        _logger = (reactor.Options.LoggerFactory ?? StandardErrorLoggerFactory.Instance).CreateLogger("EventLoop.Store");
        Node = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..8]}";
        _flush = Flush;
        _database = $"{settings.Host}:{settings.Port}/{settings.Database}";
        _thread = new PostgresStoreThread(source, "eventloop-postgres", done => reactor.Post(() => CompleteAll(done)), Log);
        _runsThread = new PostgresStoreThread(source, "eventloop-pg-runs", done => reactor.Post(() => CompleteRuns(done)), Log);
        _listener = new PostgresListener(settings, (channel, payload, sender) =>
        {
            if (sender != _thread.BackendPid) // this node's own news: the reactor acted on it when it happened
                reactor.Post(() => Heard(channel, payload));
        }, Log);
        _runs = new InProcessRuns(this, reactor, tasks);
        _leader = new PostgresScheduleLeader(settings, reactor.Store, () => _full, Log);
        _vacuum = new PostgresVacuum(settings, () => _leader.Leading, Log);
        _overview = new PostgresOverview(settings, reactor.Store.Clock, Log);
        _tick = new CallbackTimer(Tick);
        _countExpired = taken => { Leases.Expired += taken; Leases.Lost += taken; };
        _countRequeuedOnClose = taken => { Leases.RequeuedOnClose += taken; Leases.Lost += taken; };
        reactor.Timers.Schedule(_tick, Clock.TicksAfter(TickMs));
        // The reactor has no stop hook for a store yet: its completion is when the threads and connections go.
        _ = reactor.Completion.ContinueWith(_ => Dispose(), TaskScheduler.Default);
    }

    public int BlockedFetches => _blocked.Count;

    /// <summary>
    /// Counted by this node: its FETCHes' leases, the -STALE it answered, the leases of its closed connections that went
    /// back; expiries are the leases this node's sweep took back, whoever held them (another node's workers, or the
    /// in-process runs of a node that stopped).
    /// </summary>
    public LeaseTotals Leases { get; } = new();

    public long? LeasedTasks => null;

    public QueueTotals? Totals => null;

    public QueueOverview? Overview => _overview.Latest;

    public void RefreshOverview(bool watched) => _overview.Watched = watched;

    public int RunsUnderWay => _runs.RunningCount;

    public bool Idle => _runs.RunningCount == 0 && _inFlight == 0 && _pending.Count == 0 && _runsPending.Count == 0 && _settleLater.Count == 0;

    public void GiveBackRuns() => _runs.GiveBackAll();

    public void AppendInfo(Action<string, object> line)
    {
        line("store", "postgres");
        line("store_database", _database);
        line("store_node", Node);
        line("store_connected", _thread.Connected && _runsThread.Connected ? 1 : 0);
        line("store_listener_connected", _listener.Connected ? 1 : 0);
        line("store_schedule_leader", _leader.Leading ? 1 : 0);
        line("store_submits_claimed", _runs.StoredClaimed);
        line("store_vacuums", _vacuum.Vacuums);
        line("store_last_vacuum_us", _vacuum.LastMicros);
        line("store_overview_reads", _overview.Reads);
        line("store_last_overview_us", _overview.LastMicros);
        line("store_requests_pending", _pending.Count + _runsPending.Count);
        line("store_statements_in_flight", _inFlight);
        line("store_round_trips", _thread.RoundTrips + _runsThread.RoundTrips);
        line("store_statements", _thread.Statements + _runsThread.Statements);
        line("store_failed_round_trips", _thread.FailedRoundTrips + _runsThread.FailedRoundTrips);
        line("store_last_round_trip_us", _thread.LastRoundTripMicros);
    }

    /// <summary>This node's name in the leases it takes (lease_node). Immutable: the store threads read it too.</summary>
    public string Node { get; }

    /// <summary>This node's in-process runs (reactor-owned; their handler names are immutable, and read by the store threads).</summary>
    public InProcessRuns Runs => _runs;

    public QueueClock Clock => _reactor.Store.Clock;

    public ServerOptions Options => _reactor.Options;

    private long Now => Clock.UnixMs;

    private long DeadMs => (long)Options.DeadTaskTtl.TotalMilliseconds;

    /// <summary>
    /// Connects, creates or migrates the schema, and starts the store's threads; throws with a clear message when
    /// PostgreSQL cannot be reached (the server then does not start).
    /// </summary>
    public static PostgresQueueStore Open(ReactorLoop reactor, TaskRegistry tasks, string address)
    {
        if (!PostgresAddress.TryParse(address, out NpgsqlConnectionStringBuilder? settings, out string? error))
            throw new ArgumentException($"--store {error}");
        settings!.Timeout = Math.Min(settings.Timeout, 5);
        NpgsqlDataSource source = NpgsqlDataSource.Create(settings);
        try
        {
            using NpgsqlConnection connection = source.OpenConnection();
            PostgresSchema.Migrate(connection, reactor.Store.Clock.UnixMs << 20);
        }
        catch (Exception failed) when (failed is NpgsqlException or InvalidOperationException or IOException or TimeoutException)
        {
            source.Dispose();
            throw new InvalidOperationException($"PostgreSQL store {settings.Host}:{settings.Port}/{settings.Database} is unreachable: {failed.Message}", failed);
        }
        return new PostgresQueueStore(reactor, tasks, source, settings);
    }

    // ---------------------------------------------------------------- the verbs

    public void Submit(Connection connection, in SubmitSpec spec)
    {
        if (RefusedAsFull(connection))
            return;
        long now = Now;
        TaskDefinition? handler = _tasks.TryGet(spec.Task, out TaskDefinition? found) && found!.IsInProcess ? found : null;
        string task = handler?.Name ?? Encoding.Latin1.GetString(spec.Task);
        string queue = spec.Queue.IsEmpty ? "default" : Encoding.Latin1.GetString(spec.Queue);
        int timeout = spec.TimeoutMs > 0 ? spec.TimeoutMs : (int)Math.Min(int.MaxValue, Options.TaskTimeout.TotalMilliseconds);
        object?[] values = [task, queue, handler is not null, now, spec.RunAtMs, (short)spec.Priority, spec.Retries, spec.BackoffMs, timeout,
                            spec.ResultTtlSeconds, spec.Key.IsEmpty ? null : Encoding.UTF8.GetString(spec.Key), spec.Arguments];
        var reply = new StoreReply(_reactor, connection, StoreReply.NotAnsweredYet);
        bool ready = spec.RunAtMs <= now;
        Enqueue(new SubmitRequest(reply, this, values, queue, ready, handler is not null, claimHere: ready && handler is not null && _runs.TryReserve()));
    }

    public void Status(Connection connection, ReadOnlySpan<byte> id) => Find(connection, id, status: true, -1);

    public void Result(Connection connection, ReadOnlySpan<byte> id, long timeoutMs) => Find(connection, id, status: false, timeoutMs);

    private void Find(Connection connection, ReadOnlySpan<byte> id, bool status, long timeoutMs)
    {
        if (!TryId(id, out long number))
        {
            RespWriter.WriteNullBulkString(_reactor.BeginReply(connection)); // not an id this store hands out
            return;
        }
        FindRequest? request = null;
        var reply = new StoreReply(_reactor, connection, writer => request!.WriteTimedOut(writer), () => RemoveWaiter(number, request!));
        request = new FindRequest(reply, this, number, status, timeoutMs);
        if (request.Waits)
            AddWaiter(number, request);
        Enqueue(request);
    }

    public void Wait(Connection connection, in RespCommand command, int firstId, long timeoutMs)
    {
        var ids = new List<long>(command.Count - firstId);
        for (int i = firstId; i < command.Count; i++)
        {
            if (TryId(command[i], out long number))
                ids.Add(number);
        }
        long[] listed = [.. ids];
        WaitRequest? request = null;
        var reply = new StoreReply(_reactor, connection, writer => RespWriter.WriteInteger(writer, request!.Counted),
            () => { foreach (long id in listed) RemoveWaiter(id, request!); });
        request = new WaitRequest(reply, this, listed, timeoutMs);
        foreach (long id in listed)
            AddWaiter(id, request);
        Enqueue(request);
    }

    public void Cancel(Connection connection, ReadOnlySpan<byte> id)
    {
        if (!TryId(id, out long number))
        {
            RespWriter.WriteNullBulkString(_reactor.BeginReply(connection));
            return;
        }
        Enqueue(new CancelRequest(new StoreReply(_reactor, connection, StoreReply.NotAnsweredYet), this, number, Now));
    }

    public void Fetch(Connection connection, in RespCommand command, int firstQueue, int count, long blockMs, int leaseMs)
    {
        string[] queues = new string[command.Count - firstQueue];
        for (int i = firstQueue; i < command.Count; i++)
            queues[i - firstQueue] = Encoding.Latin1.GetString(command[i]);
        FetchRequest? request = null;
        var reply = new StoreReply(_reactor, connection, writer => writer.Write("*0\r\n"u8), () => _blocked.Remove(request!));
        request = new FetchRequest(reply, this, connection, queues, count, blockMs, leaseMs);
        Enqueue(request);
    }

    public void Ack(Connection connection, ReadOnlySpan<byte> id, int attempt, ReadOnlySpan<byte> result)
    {
        if (result.Length > Options.MaxResultBytes)
        {
            string error = $"result of {result.Length} bytes exceeds max-result-bytes ({Options.MaxResultBytes})";
            Settle(connection, id, attempt, PostgresSchema.Fail, [error, true, DeadMs], error);
            return;
        }
        Settle(connection, id, attempt, PostgresSchema.Ack, [ResultBulk.Encode(result)], null);
    }

    public void Fail(Connection connection, ReadOnlySpan<byte> id, int attempt, ReadOnlySpan<byte> message, bool noRetry) =>
        Settle(connection, id, attempt, PostgresSchema.Fail, [PostgresSchema.Storable(Encoding.UTF8.GetString(message)), !noRetry, DeadMs], null);

    public void Nack(Connection connection, ReadOnlySpan<byte> id, int attempt, long delayMs) =>
        Settle(connection, id, attempt, PostgresSchema.Nack, [delayMs], null);

    public void Touch(Connection connection, ReadOnlySpan<byte> id, int attempt, int leaseMs) =>
        Settle(connection, id, attempt, PostgresSchema.Touch, [leaseMs], null);

    private void Settle(Connection connection, ReadOnlySpan<byte> id, int attempt, string sql, object?[] own, string? ackFailure)
    {
        if (!TryId(id, out long number))
        {
            Leases.StaleRefused++;
            _reactor.BeginReply(connection).Write("-STALE\r\n"u8);
            return;
        }
        var reply = new StoreReply(_reactor, connection, StoreReply.NotAnsweredYet);
        Enqueue(new SettleRequest(reply, this, sql, [number, attempt, Now, .. own], ackFailure));
    }

    /// <summary>
    /// An in-process run's settlement whose statement failed (the database down, a deadlock): sent again on the next
    /// tick, and so on until it is stored; its lease is renewed meanwhile. Dropping it would leave the task running.
    /// </summary>
    public void SettleLater(SettleRequest settle) => _settleLater.Add(settle);

    /// <summary>
    /// An in-process run's settlement that PostgreSQL refused <see cref="SettleRequest.LastingFailuresAllowed"/> times in
    /// a row for a reason a retry does not change (a constraint, a trigger, bad data): no longer retried or renewed, so
    /// its lease expires and the task runs again, or fails after --max-lease-losses, instead of staying running.
    /// </summary>
    public void GiveUpSettling(SettleRequest settle) =>
        Log($"PostgreSQL store: the outcome of task {settle.Id} attempt {settle.Values[1]} was refused {SettleRequest.LastingFailuresAllowed} times " +
            $"({settle.Failure}); it is given up, and the task runs again once its lease expires");

    /// <summary>An in-process run of this node ended: ACK or FAIL its attempt, no client waiting for the answer.</summary>
    public void Settled(long id, int attempt, string sql, object?[] own) =>
        EnqueueForRuns(new SettleRequest(null, this, sql, [id, attempt, Now, .. own, .. sql == PostgresSchema.Fail ? new object?[] { DeadMs } : []], null));

    public void ConnectionClosed(Connection connection)
    {
        if (_deliveries.Remove(connection, out List<(long Id, int Attempt)>? held) && held.Count > 0)
            Lose(held, "lease lost: the worker's connection closed", countsAsLoss: true, _countRequeuedOnClose);
    }

    // ---------------------------------------------------------------- what the requests tell the store

    /// <summary>A FETCH leased these to <paramref name="connection"/>: they go back if it closes first.</summary>
    public void Leased(Connection connection, List<ClaimedRow> rows)
    {
        if (rows.Count == 0)
            return;
        if (!_deliveries.TryGetValue(connection, out List<(long Id, int Attempt)>? held))
            _deliveries[connection] = held = [];
        // Settled deliveries stay listed: the statement that gives them back is fenced by attempt, so they cost nothing.
        if (held.Count > 4 * Options.MaxInflight)
            held.RemoveRange(0, held.Count / 2);
        foreach (ClaimedRow row in rows)
            held.Add((row.Id, row.Attempt));
        Leases.Fetched += rows.Count;
    }

    /// <summary>Claimed for nobody (the fetcher left): back at once, no loss counted.</summary>
    public void GiveBack(List<ClaimedRow> rows) => GiveBack([.. rows.Select(r => (r.Id, r.Attempt))]);

    /// <summary>Deliveries no one will settle here (a stopping node's runs): back at once, no loss counted.</summary>
    public void GiveBack(List<(long Id, int Attempt)> deliveries) => Lose(deliveries, null, countsAsLoss: false, counted: null);

    /// <summary><paramref name="counted"/> hears how many deliveries the statement took back (settled ones are fenced out).</summary>
    private void Lose(List<(long Id, int Attempt)> deliveries, string? reason, bool countsAsLoss, Action<int>? counted) =>
        Enqueue(new LoseRequest(this, [deliveries.Select(d => d.Id).ToArray(), deliveries.Select(d => d.Attempt).ToArray(), Now, reason,
                                       Options.MaxLeaseLosses, DeadMs, countsAsLoss ? 1 : 0], counted));

    /// <summary>Rows a sweep or a lost lease changed: wake who waits for them, here and on the other nodes.</summary>
    public void Changed(List<(long Id, TaskState State, string Queue)> changed, StoreRequest by)
    {
        foreach ((long id, TaskState state, string queue) in changed)
        {
            if (state.IsFinished())
                Finished(id);
            else if (state == TaskState.Queued)
                BecameReady(queue, inProcess: null, by.Order);
        }
    }

    /// <summary>
    /// A task became ready in <paramref name="queue"/> (in-process or not; null: unknown) by the statement at
    /// <paramref name="changedAt"/> (<see cref="StoreRequest.Order"/>): serve blocked fetches and this node's workers, and tell the others.
    /// </summary>
    public void BecameReady(string queue, bool? inProcess, long changedAt, bool notify = true)
    {
        if (inProcess != true)
            WakeOldest(fetch => Array.IndexOf(fetch.Queues, queue) >= 0, changedAt, oneTask: true);
        if (inProcess != false)
            _runs.Claim();
        if (notify && _readyToTell.Add(queue))
            PostFlush();
    }

    /// <summary>
    /// A task finished (or was cancelled): wake its waiters here (with <paramref name="outcome"/> when this node's
    /// statement returned it), stop its run here, and tell the others.
    /// </summary>
    public void Finished(long id, bool notify = true, Outcome? outcome = null)
    {
        if (_waiters.TryGetValue(id, out List<IStoreWaiter>? waiters))
        {
            foreach (IStoreWaiter waiter in waiters.ToList())
                waiter.Finished(id, outcome);
        }
        _runs.FinishedElsewhere(id);
        if (notify)
        {
            _doneToTell.Add(id);
            PostFlush();
        }
    }

    /// <summary>Reactor: a notification from any node (null, null: the listener reconnected and may have missed some).</summary>
    private void Heard(string? channel, string? payload)
    {
        if (channel is null)
        {
            PollWaiters();
            foreach (FetchRequest fetch in _blocked.ToList())
                fetch.Requery();
            _runs.Claim();
        }
        else if (channel == PostgresSchema.DoneChannel && payload is not null)
        {
            foreach (string each in payload.Split(','))
            {
                if (long.TryParse(each, NumberStyles.None, CultureInfo.InvariantCulture, out long id))
                    Finished(id, notify: false);
            }
        }
        else if (channel == PostgresSchema.ReadyChannel && payload is not null)
            BecameReady(payload, inProcess: null, changedAt: _handed, notify: false); // committed before now: every claim handed over may have missed it
    }

    public void AddWaiter(long id, IStoreWaiter waiter)
    {
        if (!_waiters.TryGetValue(id, out List<IStoreWaiter>? waiters))
            _waiters[id] = waiters = [];
        waiters.Add(waiter);
    }

    private void RemoveWaiter(long id, IStoreWaiter waiter)
    {
        if (_waiters.TryGetValue(id, out List<IStoreWaiter>? waiters) && waiters.Remove(waiter) && waiters.Count == 0)
            _waiters.Remove(id);
    }

    public void Block(FetchRequest fetch) => _blocked.Add(fetch);

    /// <summary>The tick's look (<paramref name="look"/>) found work in these queues (a delayed task came due, or a NOTIFY was missed): their oldest blocked FETCH claims.</summary>
    public void WorkIn(HashSet<string> queues, StoreRequest look)
    {
        foreach (string queue in queues)
            WakeOldest(fetch => Array.IndexOf(fetch.Queues, queue) >= 0, look.Order, oneTask: false);
    }

    /// <summary>
    /// A woken FETCH filled its COUNT (or was asked to look again after its claim): more may be waiting in its queues,
    /// so the next oldest of them claims.
    /// </summary>
    public void Filled(FetchRequest served) =>
        WakeOldest(fetch => fetch != served && fetch.Queues.Any(queue => Array.IndexOf(served.Queues, queue) >= 0),
                   served.Again ? _handed : served.Order, oneTask: false);

    // Blocked fetches are served oldest first, as in memory, yet a burst of tasks is claimed by as many fetches at
    // once. The order decides: a claim in flight that comes after the change in the store thread's order will see it
    // and counts as serving one task; one that came before may have missed it and looks again once back (Again),
    // keeping its turn rather than letting a younger fetch take the task. One claim per task that became ready here
    // and per NOTIFY, not one per fetcher.

    /// <summary>
    /// Work became ready by the statement at <paramref name="changedAt"/>: one task (<paramref name="oneTask"/>: the
    /// oldest fetch not already counted on for one takes it), or some, how many unknown (the oldest fetch looks, unless
    /// its claim comes after the change already).
    /// </summary>
    private void WakeOldest(Func<FetchRequest, bool> reads, long changedAt, bool oneTask)
    {
        foreach (FetchRequest fetch in _blocked)
        {
            if (!reads(fetch))
                continue;
            if (!fetch.InFlight)
            {
                fetch.Requery();
                return;
            }
            if (fetch.Order <= changedAt && !fetch.Again)
            {
                fetch.Again = true;
                return;
            }
            if (!oneTask)
                return;
        }
    }

    /// <summary>A parked request asks again; if its statement is still out, once that answer is back.</summary>
    public void Requery(StoreRequest request, StoreReply reply)
    {
        if (!reply.Open)
            return;
        if (request.InFlight)
            request.Again = true;
        else
            Enqueue(request);
    }

    // ---------------------------------------------------------------- the hand-off

    /// <summary>Queues a request for this iteration's batch; the first of an iteration posts the flush.</summary>
    public void Enqueue(StoreRequest request)
    {
        request.Order = long.MaxValue;
        Queue(_pending, request);
    }

    /// <summary>
    /// Queues a request of this node's in-process runs (their claims and settlements) for the runs connection. Their
    /// changes reach the other requests as another node's would: committed before the reactor hears of them.
    /// </summary>
    public void EnqueueForRuns(StoreRequest request) => Queue(_runsPending, request);

    private void Queue(List<StoreRequest> lane, StoreRequest request)
    {
        request.InFlight = true;
        request.Failure = null;
        request.FailureLasts = false;
        request.Prepare(Now);
        lane.Add(request);
        PostFlush();
    }

    private void PostFlush()
    {
        if (_flushPosted)
            return;
        _flushPosted = true;
        // Runs from the completion queue, after every read of this iteration: they all go in one batch.
        _reactor.Post(_flush);
    }

    private void Flush()
    {
        _flushPosted = false;
        TellOtherNodes();
        if (_runsPending.Count > 0)
        {
            List<StoreRequest> runs = MultiRowStatements.Combine(_runsPending);
            _runsPending = [];
            _inFlight += runs.Count;
            _runsThread.Hand(runs);
        }
        if (_pending.Count == 0)
            return;
        foreach (StoreRequest request in _pending)
            request.Order = ++_handed;
        List<StoreRequest> batch = MultiRowStatements.Combine(_pending);
        _pending = [];
        _inFlight += batch.Count;
        _thread.Hand(batch);
    }

    /// <summary>
    /// One NOTIFY per queue that got work and one per ~7,000 bytes of finished ids, whatever the batch held: a burst
    /// of SUBMITs costs the other nodes one wake-up, not one per task. They follow the changes they announce, which
    /// the store thread commits first (it runs requests in order).
    /// </summary>
    private void TellOtherNodes()
    {
        foreach (string queue in _readyToTell)
            _pending.Add(new HousekeepingRequest(this, PostgresSchema.Notify, [PostgresSchema.ReadyChannel, queue], returnsChanges: false));
        _readyToTell.Clear();
        var ids = new StringBuilder();
        foreach (long id in _doneToTell)
        {
            if (ids.Length > 7000)
            {
                _pending.Add(new HousekeepingRequest(this, PostgresSchema.Notify, [PostgresSchema.DoneChannel, ids.ToString()], returnsChanges: false));
                ids.Clear();
            }
            ids.Append(ids.Length == 0 ? "" : ",").Append(id.ToString(CultureInfo.InvariantCulture));
        }
        if (ids.Length > 0)
            _pending.Add(new HousekeepingRequest(this, PostgresSchema.Notify, [PostgresSchema.DoneChannel, ids.ToString()], returnsChanges: false));
        _doneToTell.Clear();
    }

    /// <summary>The runs connection's answers: placed after every claim handed to the main one so far, which may have looked before these changes.</summary>
    private void CompleteRuns(List<StoreRequest> done)
    {
        foreach (StoreRequest request in done)
            request.PlaceAt(_handed);
        CompleteAll(done);
    }

    private void CompleteAll(List<StoreRequest> done)
    {
        _inFlight -= done.Count;
        foreach (StoreRequest request in done)
        {
            request.InFlight = false;
            request.Complete();
        }
    }

    // ---------------------------------------------------------------- the tick

    private void Tick()
    {
        long now = Now;
        _ticks++;
        if (_blocked.Count > 0)
            Enqueue(new QueuesWithWorkRequest(this, [.. _blocked.SelectMany(f => f.Queues).Distinct(StringComparer.Ordinal)], now));
        _runs.Claim();
        if (_ticks % 4 == 0)
        {
            Enqueue(new HousekeepingRequest(this, PostgresSchema.ExpireLeases, [now, Options.MaxLeaseLosses, DeadMs], returnsChanges: true, _countExpired));
            Enqueue(new HousekeepingRequest(this, PostgresSchema.TimeOut, [now, DeadMs], returnsChanges: true));
            // With the runs' settlements, in their order; a row being settled meanwhile elsewhere is skipped, not waited for.
            EnqueueForRuns(new HousekeepingRequest(this, PostgresSchema.RenewNode,
                [Node, now, InProcessRuns.LeaseMs, _runs.Running.Concat(_settleLater.Select(settle => settle.Id)).ToArray()], returnsChanges: false));
        }
        if (_ticks % Math.Max(1, (long)Options.StoreSafetyPoll.TotalMilliseconds / TickMs) == 0)
            PollWaiters();
        if (_settleLater.Count > 0) // after the renewal, which counted them
        {
            List<SettleRequest> again = _settleLater;
            _settleLater = [];
            foreach (SettleRequest settle in again)
                EnqueueForRuns(settle);
        }
        if (_ticks % 40 == 0)
            Enqueue(new HousekeepingRequest(this, PostgresSchema.Expire, [now], returnsChanges: false));
        CountTasksIfDue();
        _reactor.Timers.Schedule(_tick, Clock.TicksAfter(TickMs));
    }

    /// <summary>The safety poll: a NOTIFY lost with a connection must not leave a RESULT … TIMEOUT or WAIT parked forever.</summary>
    private void PollWaiters()
    {
        if (_waiters.Count > 0)
            Enqueue(new FinishedPollRequest(this, [.. _waiters.Keys], Now));
    }

    // ---------------------------------------------------------------- rows as records

    /// <summary>A record of a row, held by nothing: what the reply writers (<see cref="QueueReplies"/>) and the workers take.</summary>
    public TaskRecord Detached(long id, string task, string queue, byte[]? result, TaskState state, int attempt, int priority,
        long created, long runAt, long started, long finished, string? error, byte[]? arguments = null, TaskDefinition? definition = null)
    {
        var record = new TaskRecord(id, null, definition ?? Definition(task), Queue(queue), Defaults, arguments ?? PackedArguments.None)
        {
            State = state,
            Attempt = attempt,
            Priority = (byte)priority,
            CreatedMs = created,
            RunAtMs = runAt,
            StartedMs = started,
            FinishedMs = finished,
            Error = error,
            Result = result,
        };
        return record;
    }

    private static readonly TaskOptions Defaults = new(0, SubmitOptions.DefaultBackoffMs, 0, SubmitOptions.DefaultResultTtlSeconds);

    private TaskDefinition Definition(string name)
    {
        if (_definitions.TryGetValue(name, out TaskDefinition? known))
            return known;
        TaskDefinition made = TaskDefinition.External(name);
        if (_definitions.Count < 65_536)
            _definitions[name] = made;
        return made;
    }

    private TaskQueue Queue(string name)
    {
        if (_queues.TryGetValue(name, out TaskQueue? known))
            return known;
        var made = new TaskQueue(name, _reactor.Store); // a name only: never entered in the in-memory store
        if (_queues.Count < Options.MaxQueues)
            _queues[name] = made;
        return made;
    }

    /// <summary>Ids this store hands out are decimal numbers without a leading zero; a firing's <c>name@fire-ms</c> names its number too.</summary>
    private static bool TryId(ReadOnlySpan<byte> id, out long number) =>
        (Utf8Parser.TryParse(id, out number, out int consumed) && consumed == id.Length && id.Length > 0 && id[0] is >= (byte)'1' and <= (byte)'9')
        || FiringIds.TryParse(id, out number);

    /// <summary>Any thread (the store's threads report here).</summary>
    private void Log(string message) => _logger.LogWarning("{Message}", message);

    public void Dispose()
    {
        _leader.Dispose();
        _vacuum.Dispose();
        _overview.Dispose();
        _listener.Dispose();
        _thread.Dispose();
        _runsThread.Dispose();
        _source.Dispose();
    }
}
