using EventLoop.Protocol;
using EventLoop.Queueing;
using EventLoop.Reactor;

namespace EventLoop.Stores;

/// <summary>
/// The seam between the task queue's verbs and where the queue lives. The command layer
/// (<c>QueueCommands</c>, <c>WorkerCommands</c>) parses and validates the words once, for every store; a store
/// decides and answers, either at once on the reactor (<see cref="MemoryQueueStore"/>) or later, in the request's
/// place in the connection's reply order (<see cref="Postgres.PostgresQueueStore"/>). Called on the reactor thread only.
/// </summary>
internal interface IQueueStore
{
    /// <summary>INFO's <c># Store</c> section: the store's own figures as key/value lines; none for the in-memory store, whose figures are in <c># Queueing</c>.</summary>
    void AppendInfo(Action<string, object> line);

    /// <summary>FETCH … BLOCK requests of this node parked until work comes (INFO's <c>external_blocked_fetchers</c>).</summary>
    int BlockedFetches { get; }

    /// <summary>This node's lease counters (INFO's <c>external_leases_total</c>, <c>_leases_lost</c>, <c>_lease_expiries</c>, <c>_requeued_on_close</c>, <c>_stale_refused</c>).</summary>
    LeaseTotals Leases { get; }

    /// <summary>Tasks leased to this node's workers now; null where only a query could tell (PostgreSQL), and INFO then leaves the line out.</summary>
    long? LeasedTasks { get; }

    /// <summary>The queue's totals since start (INFO's and /metrics' submitted, succeeded, failed…); null where no node can count them alone (PostgreSQL).</summary>
    QueueTotals? Totals { get; }

    /// <summary>
    /// The dashboard's picture of the queue, as of the last <see cref="RefreshOverview"/> that completed; null until one
    /// did. Read on the reactor, published on to the HTTP threads.
    /// </summary>
    QueueOverview? Overview { get; }

    /// <summary>
    /// The snapshot's tick (with the HTTP endpoint on): <paramref name="watched"/> when someone read the snapshot or
    /// /metrics lately. The in-memory store rebuilds <see cref="Overview"/> at once; PostgreSQL queries it on a thread
    /// of its own, only while watched.
    /// </summary>
    void RefreshOverview(bool watched);

    /// <summary>A dashboard change to <paramref name="target"/> (a queue's name, a task's id); <paramref name="done"/> gets whether it was made, or the store's failure.</summary>
    void Change(QueueChange change, string target, TaskCompletionSource<bool> done);

    /// <summary>
    /// Reactor, while the server stops: nothing of the store's own is under way (in-process runs it started, statements
    /// not answered yet). The loop ends once this holds with the connections gone, or at the shutdown deadline.
    /// </summary>
    bool Idle { get; }

    /// <summary>Reactor: in-process runs the store started itself (PostgreSQL's claims); 0 in memory, whose runs the reactor counts.</summary>
    int RunsUnderWay { get; }

    /// <summary>Reactor, once, when the shutdown deadline passes: the store's runs still under way go back to their queues now (PostgreSQL), not when their leases expire.</summary>
    void GiveBackRuns();

    /// <summary>SUBMIT: answers the task's id (or -FULL).</summary>
    void Submit(Connection connection, in SubmitSpec spec);

    /// <summary>STATUS id: field/value pairs, or nil.</summary>
    void Status(Connection connection, ReadOnlySpan<byte> id);

    /// <summary>RESULT id: the outcome; with <paramref name="timeoutMs"/> ≥ 0, parked until finished (0: no deadline).</summary>
    void Result(Connection connection, ReadOnlySpan<byte> id, long timeoutMs);

    /// <summary>WAIT timeout id…: the ids are <paramref name="command"/>'s words from <paramref name="firstId"/>.</summary>
    void Wait(Connection connection, in RespCommand command, int firstId, long timeoutMs);

    /// <summary>CANCEL id: 1, 0 or nil.</summary>
    void Cancel(Connection connection, ReadOnlySpan<byte> id);

    /// <summary>FETCH: the queues are <paramref name="command"/>'s words from <paramref name="firstQueue"/>, already checked as names.</summary>
    void Fetch(Connection connection, in RespCommand command, int firstQueue, int count, long blockMs, int leaseMs);

    /// <summary>ACK id attempt [result]: <paramref name="result"/> is the payload as the worker sent it.</summary>
    void Ack(Connection connection, ReadOnlySpan<byte> id, int attempt, ReadOnlySpan<byte> result);

    /// <summary>FAIL id attempt message [NORETRY].</summary>
    void Fail(Connection connection, ReadOnlySpan<byte> id, int attempt, ReadOnlySpan<byte> message, bool noRetry);

    /// <summary>NACK id attempt [DELAY ms].</summary>
    void Nack(Connection connection, ReadOnlySpan<byte> id, int attempt, long delayMs);

    /// <summary>TOUCH id attempt [LEASE ms] (0: the lease's own length).</summary>
    void Touch(Connection connection, ReadOnlySpan<byte> id, int attempt, int leaseMs);

    /// <summary>A connection that fetched closed: the deliveries it held go back to their queues.</summary>
    void ConnectionClosed(Connection connection);

    /// <summary>QUEUES: <c>[queue, queued, running, scheduled, paused]</c> per queue, by name.</summary>
    void Queues(Connection connection);

    /// <summary>QUEUE PAUSE q / QUEUE RESUME q: +OK (or -FULL max-queues).</summary>
    void Pause(Connection connection, ReadOnlySpan<byte> queue, bool paused);

    /// <summary>DEAD LIST [QUEUE q] [COUNT n]: failed tasks' ids, oldest failure first (<paramref name="queue"/> null: every queue).</summary>
    void ListDead(Connection connection, string? queue, long count);

    /// <summary>DEAD RETRY id (<paramref name="retry"/>) or DEAD DROP id: 1, or 0 when the id is not in the dead set.</summary>
    void Dead(Connection connection, ReadOnlySpan<byte> id, bool retry);

    /// <summary>SCHEDULE ADD, already checked (<paramref name="schedule"/> fires at least once): +OK, replacing one of that name, or -FULL max-schedules.</summary>
    void AddSchedule(Connection connection, ScheduleDefinition definition, Schedule schedule);

    /// <summary>SCHEDULE DEL name: 1 or 0.</summary>
    void RemoveSchedule(Connection connection, string name);

    /// <summary>SCHEDULE LIST: <c>[name, spec, task, next_fire_ms]</c> per schedule, by name.</summary>
    void ListSchedules(Connection connection);
}
