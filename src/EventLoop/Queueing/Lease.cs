using EventLoop.Timers;

namespace EventLoop.Queueing;

/// <summary>
/// One delivery of a task to an external worker: the task, the attempt that fences every answer about
/// it (ACK, FAIL, NACK, TOUCH quote it), the connection's lease set it belongs to, and its expiry, kept
/// by the <see cref="LeaseLane"/> of its length. Reactor-owned.
/// </summary>
/// <remarks>
/// A lease ends exactly once: settled (ACK, FAIL, NACK), lost (expired, or its connection closed: the
/// task goes back to its queue as a new delivery), or ended by CANCEL (the lease stays until the worker
/// hears <c>-CANCELLED</c> or the lease runs out, so it can be told). It is a node of two intrusive lists,
/// its lane and its connection's set, so handing it out and ending it touch no heap and allocate nothing
/// beyond the lease itself.
/// </remarks>
internal sealed class Lease(TaskRecord task, int attempt, int leaseMs, LeaseSet owner) : ITaskHolder
{
    public TaskRecord Task { get; } = task;

    public int Attempt { get; } = attempt;

    /// <summary>Length of the lease as asked by FETCH, or last renewed by TOUCH.</summary>
    public int LeaseMs { get; set; } = leaseMs;

    public LeaseSet Owner { get; } = owner;

    /// <summary>The task was cancelled while leased: the worker learns it from TOUCH (or ACK, FAIL, NACK).</summary>
    public bool Cancelled { get; private set; }

    /// <summary>Stopwatch ticks when it runs out; meaningful while <see cref="IsArmed"/>.</summary>
    internal long DueAt;

    /// <summary>The lane it waits in until it ends; null once ended.</summary>
    internal LeaseLane? Lane;

    internal Lease? LanePrevious, LaneNext;

    internal Lease? OwnerPrevious, OwnerNext;

    /// <summary>Not ended yet: it runs out at <see cref="DueAt"/>.</summary>
    public bool IsArmed => Lane is not null;

    public void CancelRun() => Cancelled = true;
}

/// <summary>
/// The leases of one length, in the order they run out: each new or renewed lease of that length runs out
/// last, so appending keeps the lane sorted and the head is always the next to expire. One timer entry per
/// lane, armed no later than its head's expiry, replaces one per lease: an ACK unlinks its lease in O(1)
/// and leaves the timer alone; a firing that finds its head gone (or not yet due) just re-arms for the
/// head it finds. Reactor-owned.
/// </summary>
internal sealed class LeaseLane(int leaseMs, TaskStore store) : TimerEntry
{
    private readonly IntrusiveList<Lease, Links> _leases = new();

    public int LeaseMs { get; } = leaseMs;

    public Lease? First => _leases.First;

    public void Append(Lease lease, long dueAt)
    {
        lease.DueAt = dueAt;
        lease.Lane = this;
        _leases.AddLast(lease);
    }

    public void Remove(Lease lease)
    {
        _leases.Remove(lease);
        lease.Lane = null;
    }

    internal override void OnDue(long now) => store.OnLaneDue(this, now);

    private readonly struct Links : IListLinks<Lease>
    {
        public static ref Lease? Previous(Lease lease) => ref lease.LanePrevious;

        public static ref Lease? Next(Lease lease) => ref lease.LaneNext;
    }
}

/// <summary>The leases one connection holds, newest first: returned to their queues at once when it closes. Reactor-owned.</summary>
internal sealed class LeaseSet : IntrusiveList<Lease, LeaseSet.Links>
{
    /// <summary>The leases held, newest first (for the dashboard's snapshot).</summary>
    public IEnumerable<Lease> All
    {
        get
        {
            for (Lease? lease = First; lease is not null; lease = lease.OwnerNext)
                yield return lease;
        }
    }

    public void Add(Lease lease) => AddFirst(lease);

    internal readonly struct Links : IListLinks<Lease>
    {
        public static ref Lease? Previous(Lease lease) => ref lease.OwnerPrevious;

        public static ref Lease? Next(Lease lease) => ref lease.OwnerNext;
    }
}

/// <summary>
/// A FETCH waiting for work (<c>BLOCK</c>): registered with every queue it reads, oldest first, and served
/// by the store as soon as one of them has an external task ready. Reactor-owned.
/// </summary>
internal sealed class BlockedFetch(TaskQueue[] queues, int count, int leaseMs, LeaseSet owner, BlockedFetch.ServeLeases serve)
{
    /// <summary>Receives the leases a blocked fetch got; the span is the store's and is valid only during the call.</summary>
    public delegate void ServeLeases(ReadOnlySpan<Lease> leases);

    public TaskQueue[] Queues { get; } = queues;

    public int Count { get; } = count;

    public int LeaseMs { get; } = leaseMs;

    public LeaseSet Owner { get; } = owner;

    /// <summary>Its places in the queues' waiting lists, for O(1) removal from each.</summary>
    public List<LinkedListNode<BlockedFetch>> Registrations { get; } = [];

    /// <summary>Called once with the leases it got; the fetch is no longer registered then.</summary>
    public void Serve(ReadOnlySpan<Lease> leases) => serve(leases);
}
