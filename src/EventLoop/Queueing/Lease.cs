using EventLoop.Timers;

namespace EventLoop.Queueing;

/// <summary>
/// One delivery of a task to an external worker: the task, the attempt that fences every answer about
/// it (ACK, FAIL, NACK, TOUCH quote it), the connection's lease set it belongs to, and its expiry, which
/// is its timer entry. Reactor-owned.
/// </summary>
/// <remarks>
/// A lease ends exactly once: settled (ACK, FAIL, NACK), lost (expired, or its connection closed: the
/// task goes back to its queue as a new delivery), or ended by CANCEL (the lease stays until the worker
/// hears <c>-CANCELLED</c> or the lease runs out, so it can be told).
/// </remarks>
internal sealed class Lease : TimerEntry, ITaskHolder
{
    public Lease(TaskRecord task, int attempt, int leaseMs, LeaseSet owner)
    {
        Task = task;
        Attempt = attempt;
        LeaseMs = leaseMs;
        Owner = owner;
    }

    public TaskRecord Task { get; }

    public int Attempt { get; }

    /// <summary>Length of the lease as asked by FETCH, or last renewed by TOUCH.</summary>
    public int LeaseMs { get; set; }

    public LeaseSet Owner { get; }

    /// <summary>The task was cancelled while leased: the worker learns it from TOUCH (or ACK, FAIL, NACK).</summary>
    public bool Cancelled { get; private set; }

    public void CancelRun() => Cancelled = true;

    internal override void OnDue(long now) => Task.Queue.Store.ExpireLease(this);
}

/// <summary>The leases one connection holds: returned to their queues at once when it closes. Reactor-owned.</summary>
internal sealed class LeaseSet
{
    private readonly HashSet<Lease> _leases = [];

    public int Count => _leases.Count;

    /// <summary>The leases held, in no particular order (for the dashboard's snapshot).</summary>
    public IEnumerable<Lease> All => _leases;

    public void Add(Lease lease) => _leases.Add(lease);

    public bool Remove(Lease lease) => _leases.Remove(lease);

    public List<Lease> TakeAll()
    {
        List<Lease> all = [.. _leases];
        _leases.Clear();
        return all;
    }
}

/// <summary>
/// A FETCH waiting for work (<c>BLOCK</c>): registered with every queue it reads, oldest first, and served
/// by the store as soon as one of them has an external task ready. Reactor-owned.
/// </summary>
internal sealed class BlockedFetch(TaskQueue[] queues, int count, int leaseMs, LeaseSet owner, Action<List<Lease>> serve)
{
    public TaskQueue[] Queues { get; } = queues;

    public int Count { get; } = count;

    public int LeaseMs { get; } = leaseMs;

    public LeaseSet Owner { get; } = owner;

    /// <summary>Its places in the queues' waiting lists, for O(1) removal from each.</summary>
    public List<LinkedListNode<BlockedFetch>> Registrations { get; } = [];

    /// <summary>Called once with the leases it got; the fetch is no longer registered then.</summary>
    public void Serve(List<Lease> leases) => serve(leases);
}
