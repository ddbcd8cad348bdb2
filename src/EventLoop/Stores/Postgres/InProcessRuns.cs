using EventLoop.Queueing;
using EventLoop.Reactor;
using EventLoop.Tasks;
using EventLoop.Workers;
using Npgsql;

namespace EventLoop.Stores.Postgres;

/// <summary>
/// This node's worker pool running tasks claimed from PostgreSQL: claims ready tasks whose handler is registered
/// here (one claim in flight at a time, at most a ring's worth running), hands each to the ring in a work item of
/// its own whose completion is posted back through the completion queue, and settles the attempt with the same
/// fenced statements as ACK and FAIL. The lease names this node and is renewed on the store's tick; a node that
/// dies leaves leases that expire and go back to their queues. A SUBMIT this node can run at once reserves room
/// here and is stored already claimed (<see cref="PostgresSchema.Submit"/>): no claim, and no second row version,
/// for a task that nothing queued ahead of. Claims go out only while work may be waiting (a task became ready, a
/// NOTIFY, the tick, a full claim), not after every run. Reactor-owned.
/// </summary>
internal sealed class InProcessRuns(PostgresQueueStore store, ReactorLoop reactor, TaskRegistry tasks)
{
    private const int ClaimBatch = 64;
    /// <summary>How long an attempt's lease lasts without the node renewing it (the tick renews it far sooner).</summary>
    public const int LeaseMs = 15_000;

    private readonly string[] _names = [.. tasks.All.Where(t => t.IsInProcess).Select(t => t.Name)];
    private readonly Dictionary<long, WorkItem> _running = [];
    private readonly Stack<WorkItem> _free = new();
    private ClaimRequest? _claim;
    /// <summary>Room held for SUBMITs in flight that may come back claimed here.</summary>
    private int _reserved;
    /// <summary>Something may be ready for this node's handlers that no claim has looked for since.</summary>
    private bool _mayHaveWork = true;

    private WorkerPool Workers => reactor.Workers;

    /// <summary>The ids of the attempts running here: the leases the node renews.</summary>
    public IEnumerable<long> Running => _running.Keys;

    /// <summary>Runs under way: a stopping server waits for them (<see cref="PostgresQueueStore.Idle"/>).</summary>
    public int RunningCount => _running.Count;

    /// <summary>
    /// The shutdown deadline passed: every run still under way goes back to its queue now, for another node, instead of
    /// when its lease expires. A handler that finishes later settles nothing: its attempt is no longer the running one.
    /// </summary>
    public void GiveBackAll()
    {
        if (_running.Count == 0)
            return;
        store.GiveBack([.. _running.Values.Select(item => (item.QueuedTask!.Number, item.Attempt))]);
        _running.Clear();
    }

    /// <summary>The names of this node's handlers: what its claims, and a SUBMIT's look for tasks ahead, go by.</summary>
    public string[] Names => _names;

    /// <summary>How many more runs the ring can take: what runs, what reserved SUBMITs and the claim in flight may bring, all count.</summary>
    private int Free => Math.Min(Workers.RingCapacity - _running.Count, Workers.RingCapacity - Workers.RingDepth) - _reserved
                        - (_claim is { InFlight: true } claim ? claim.Count : 0);

    private int Room => Math.Min(ClaimBatch, Free);

    /// <summary>Holds room for a SUBMIT of one of this node's handlers, which may come back claimed here; false when there is none.</summary>
    public bool TryReserve()
    {
        if (reactor.Stopping || Free <= 0)
            return false;
        _reserved++;
        return true;
    }

    /// <summary>A reserved SUBMIT is answered: <paramref name="claimed"/> its row, stored running here (null: stored ready, or not at all).</summary>
    public void Unreserve(ClaimedRow? claimed)
    {
        _reserved--;
        if (claimed is { } row)
        {
            StoredClaimed++;
            Start(row);
        }
    }

    /// <summary>SUBMITs stored claimed here and run without a claim (INFO <c>store_submits_claimed</c>).</summary>
    public long StoredClaimed { get; private set; }

    /// <summary>Work may be ready for this node's handlers (a task became ready, a NOTIFY, the tick): claims it, unless a claim is out or there is no room.</summary>
    public void Claim()
    {
        _mayHaveWork = true;
        ClaimIfRoom();
    }

    private void ClaimIfRoom()
    {
        if (_names.Length == 0 || reactor.Stopping)
            return;
        if (_claim is { InFlight: true })
        {
            _claim.Again = true; // it may have looked before this sign: it looks again once back
            return;
        }
        if (Room <= 0)
            return;
        _claim ??= new ClaimRequest(this, store.Node, _names);
        _claim.Count = Room;
        store.EnqueueForRuns(_claim);
    }

    /// <summary>Finished on another node's say (CANCEL, a TIMEOUT found by the sweep): the handler here is told to stop.</summary>
    public void FinishedElsewhere(long id)
    {
        if (_running.TryGetValue(id, out WorkItem? item))
            item.CancelRun();
    }

    private void Start(List<ClaimedRow> rows)
    {
        foreach (ClaimedRow row in rows)
            Start(row);
    }

    /// <summary>Hands one claimed attempt to the ring (a SUBMIT stored claimed comes alone: no list for it).</summary>
    private void Start(ClaimedRow row)
    {
        if (!tasks.TryGet(System.Text.Encoding.Latin1.GetBytes(row.Task), out TaskDefinition? definition) || !definition!.IsInProcess)
            return; // unreachable: the claim named only this node's handlers
        TaskRecord task = store.Detached(row.Id, row.Task, row.Queue, null, TaskState.Running, row.Attempt, row.Priority, 0, 0, 0, 0, null,
            row.Arguments, definition);
        WorkItem item = _free.TryPop(out WorkItem? free) ? free : NewItem();
        item.BeginQueuedRun(task, row.Attempt, Workers.AbortToken);
        item.State = WorkState.Running;
        if (!Workers.TrySubmit(item))
        {
            // Room was checked when claiming; another producer cannot exist, but never strand a claimed task.
            store.GiveBack([row]);
            Recycle(item);
            return;
        }
        _running[row.Id] = item;
    }

    private WorkItem NewItem()
    {
        var item = new WorkItem { Reusable = true };
        item.Posted = () => Completed(item);
        return item;
    }

    /// <summary>A run came back through the completion queue: settle its attempt (fenced: a stale one changes nothing).</summary>
    private void Completed(WorkItem item)
    {
        TaskRecord task = item.QueuedTask!;
        if (!_running.Remove(task.Number))
        {
            Recycle(item); // given back at the shutdown deadline (GiveBackAll): another node's to run now, not this one's to settle
            return;
        }
        if (item.FailureMessage is { } failure)
            store.Settled(task.Number, item.Attempt, PostgresSchema.Fail, [PostgresSchema.Storable(failure), true]);
        else if (ResultBulk.Payload(item.Reply.WrittenSpan.ToArray()) is { Length: var bytes } && bytes > reactor.Options.MaxResultBytes)
            store.Settled(task.Number, item.Attempt, PostgresSchema.Fail,
                [$"result of {bytes} bytes exceeds max-result-bytes ({reactor.Options.MaxResultBytes})", true]);
        else
            store.Settled(task.Number, item.Attempt, PostgresSchema.Ack, [item.Reply.WrittenSpan.ToArray()]);
        Recycle(item);
        if (_mayHaveWork)
            ClaimIfRoom();
    }

    private void Recycle(WorkItem item)
    {
        Action posted = item.Posted!;
        item.Reset(retainBytes: 4096);
        item.Posted = posted;
        _free.Push(item);
    }

    /// <summary>The claim of this node's handlers: one statement, reused.</summary>
    private sealed class ClaimRequest(InProcessRuns runs, string node, string[] names) : StoreRequest
    {
        private List<ClaimedRow> _rows = [];
        private long _now;

        public int Count;

        public override void Prepare(long now) => _now = now;

        public override void AddTo(NpgsqlBatch batch) =>
            batch.BatchCommands.Add(Command(PostgresSchema.ClaimForHandlers, names, _now, Count, LeaseMs, node));

        public override void Read(NpgsqlDataReader reader) => _rows = ClaimedRows.Read(reader);

        public override void Complete()
        {
            List<ClaimedRow> rows = _rows;
            _rows = [];
            if (Failure is null)
                runs.Start(rows);
            // A full claim means more may be waiting; a NOTIFY during the claim may have been for a task it missed.
            if (rows.Count == Count || Again)
            {
                Again = false;
                runs.Claim();
            }
            else if (Failure is null)
                runs._mayHaveWork = false; // looked after every sign of work so far and found less than room for
        }
    }
}
