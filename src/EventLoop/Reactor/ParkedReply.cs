using EventLoop.Queueing;
using EventLoop.Workers;

namespace EventLoop.Reactor;

/// <summary>
/// A request answered later: a reply slot in its connection's reply FIFO (a <see cref="WorkItem"/> in
/// <see cref="WorkState.Parked"/>) that a task's finishing or the request's deadline fills. Requests
/// pipelined behind it queue behind the slot, so replies still leave in order, and no thread is held
/// while it waits. Reactor-owned.
/// </summary>
/// <remarks>
/// Three ways out, each exactly once: what it waited for happened (it writes its reply and calls <see cref="Deliver"/>),
/// the timer (its deadline; also forced when the server stops), or <see cref="Abandon"/> (its connection
/// closed: it lets go of the tasks and the timer, writes nothing).
/// </remarks>
internal abstract class ParkedReply : Timers.TimerEntry
{
    private readonly ParkedReplies _registry;

    protected ParkedReply(ParkedReplies registry, Connection connection, WorkItem slot)
    {
        _registry = registry;
        Connection = connection;
        Slot = slot;
        slot.State = WorkState.Parked;
        slot.Parked = this;
        registry.Add(this);
    }

    public Connection Connection { get; }

    public WorkItem Slot { get; }

    /// <summary>Arms the deadline, <paramref name="milliseconds"/> from now (0: none).</summary>
    public void ExpireAfter(long milliseconds, QueueClock clock)
    {
        if (milliseconds > 0)
            _registry.Timers.Schedule(this, clock.TicksAfter(milliseconds));
    }

    /// <summary>The connection closed: let go of everything, answer nothing.</summary>
    public void Abandon()
    {
        _registry.Timers.Cancel(this);
        Release();
        _registry.Remove(this);
    }

    /// <summary>Answers now with what is known (the deadline passed, or the server stops).</summary>
    public void Expire()
    {
        _registry.Timers.Cancel(this);
        Release();
        WriteTimedOutReply();
        Deliver();
    }

    internal override void OnDue(long now) => Expire();

    /// <summary>Lets go of what it waits for (tasks, queues).</summary>
    protected abstract void Release();

    protected abstract void WriteTimedOutReply();

    /// <summary>The reply is in <see cref="Slot"/>: release it to the connection in its turn.</summary>
    protected void Deliver()
    {
        _registry.Timers.Cancel(this);
        _registry.Remove(this);
        Slot.Parked = null;
        Slot.State = WorkState.Complete;
        _registry.Deliver(Connection);
    }
}

/// <summary>Every parked reply of the server (INFO parked_connections/parked_requests; answered at once when the server stops). Reactor-owned.</summary>
internal sealed class ParkedReplies(Timers.TimerHeap timers, Action<Connection> deliver)
{
    private readonly HashSet<ParkedReply> _parked = [];

    public Timers.TimerHeap Timers { get; } = timers;

    /// <summary>Parked requests (a connection may pipeline several).</summary>
    public int Count => _parked.Count;

    /// <summary>Connections with at least one parked request.</summary>
    public int Connections { get; private set; }

    public void Add(ParkedReply parked)
    {
        if (_parked.Add(parked) && parked.Connection.ParkedRequests++ == 0)
            Connections++;
    }

    public void Remove(ParkedReply parked)
    {
        if (_parked.Remove(parked) && --parked.Connection.ParkedRequests == 0)
            Connections--;
    }

    public void Deliver(Connection connection) => deliver(connection);

    /// <summary>The server stops: every parked request answers with what it knows now.</summary>
    public void ExpireAll()
    {
        foreach (ParkedReply parked in _parked.ToList())
            parked.Expire();
    }
}

/// <summary><c>RESULT id TIMEOUT ms</c> on a task not finished yet.</summary>
internal sealed class ParkedResult : ParkedReply, ITaskWaiter
{
    private readonly TaskRecord _task;

    public ParkedResult(ParkedReplies registry, Connection connection, WorkItem slot, TaskRecord task) : base(registry, connection, slot)
    {
        _task = task;
        TaskStore.AddWaiter(task, this);
    }

    public void OnFinished(TaskRecord task)
    {
        Commands.QueueReplies.WriteResult(Slot.Reply, task);
        Deliver();
    }

    protected override void Release() => TaskStore.RemoveWaiter(_task, this);

    protected override void WriteTimedOutReply() => Commands.QueueReplies.WriteResult(Slot.Reply, _task);
}

/// <summary><c>WAIT timeout id…</c>: counts the listed tasks that finish; answers when all did or at the deadline.</summary>
internal sealed class ParkedWait : ParkedReply, ITaskWaiter
{
    /// <summary>Listed tasks not finished yet, with how many times each was listed.</summary>
    private readonly Dictionary<TaskRecord, int> _waitingFor;
    private int _finished;

    /// <summary>Parks a WAIT that already counts <paramref name="finished"/> listed ids and waits for <paramref name="waitingFor"/>.</summary>
    public ParkedWait(ParkedReplies registry, Connection connection, WorkItem slot, int finished, Dictionary<TaskRecord, int> waitingFor)
        : base(registry, connection, slot)
    {
        _finished = finished;
        _waitingFor = waitingFor;
        foreach (TaskRecord task in waitingFor.Keys)
            TaskStore.AddWaiter(task, this);
    }

    public void OnFinished(TaskRecord task)
    {
        if (_waitingFor.Remove(task, out int listed))
            _finished += listed;
        if (_waitingFor.Count > 0)
            return;
        Protocol.RespWriter.WriteInteger(Slot.Reply, _finished);
        Deliver();
    }

    protected override void Release()
    {
        foreach (TaskRecord task in _waitingFor.Keys)
            TaskStore.RemoveWaiter(task, this);
    }

    protected override void WriteTimedOutReply() => Protocol.RespWriter.WriteInteger(Slot.Reply, _finished);
}

/// <summary><c>FETCH … BLOCK ms</c> that found nothing: served by the store when one of its queues gets work.</summary>
internal sealed class ParkedFetch : ParkedReply
{
    private readonly TaskStore _store;
    private readonly BlockedFetch _fetch;

    public ParkedFetch(ParkedReplies registry, Connection connection, WorkItem slot, TaskStore store, TaskQueue[] queues, int count, int leaseMs)
        : base(registry, connection, slot)
    {
        _store = store;
        _fetch = new BlockedFetch(queues, count, leaseMs, connection.Leases!, Served);
        store.Block(_fetch);
    }

    private void Served(ReadOnlySpan<Lease> leases)
    {
        Commands.QueueReplies.WriteFetched(Slot.Reply, leases);
        Deliver();
    }

    protected override void Release() => _store.Unblock(_fetch);

    protected override void WriteTimedOutReply() => Slot.Reply.Write("*0\r\n"u8);
}
