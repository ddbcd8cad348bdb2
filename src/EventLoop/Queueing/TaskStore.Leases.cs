using System.Runtime.InteropServices;

namespace EventLoop.Queueing;

/// <summary>
/// External workers: FETCH hands ready tasks out as leases; ACK, FAIL, NACK and TOUCH settle or renew a
/// lease by the attempt they quote; a lease that expires or whose connection closes is lost, and its task
/// goes back to its queue at once as a new delivery.
/// </summary>
internal sealed partial class TaskStore
{
    private readonly HashSet<TaskQueue> _externalWork = [];
    /// <summary>Lanes by lease length; a lane is dropped when its timer finds it empty (idle for a whole lease).</summary>
    private readonly Dictionary<int, LeaseLane> _lanes = [];
    /// <summary>
    /// The leases of the latest <see cref="Fetch"/>, reused so a FETCH allocates no list. Entries past the
    /// latest count keep ended leases reachable until overwritten: at most the largest FETCH COUNT's (10,000),
    /// a bounded cost the hot path does not pay to clear.
    /// </summary>
    private Lease[] _fetched = new Lease[64];

    /// <summary>Totals of the external side, for INFO.</summary>
    public LeaseTotals Leases { get; } = new();

    public int BlockedFetches { get; private set; }

    /// <summary>Tasks running on an external worker's lease.</summary>
    public int LeasedTasks { get; private set; }

    /// <summary>
    /// Takes up to <paramref name="count"/> ready external tasks from <paramref name="queues"/>, highest
    /// priority first across them (oldest first within a priority, listed order between queues), and
    /// leases each to <paramref name="owner"/> for <paramref name="leaseMs"/>. The leases are in a buffer
    /// of the store's, valid until the next call: every caller writes its reply from them at once.
    /// </summary>
    public ReadOnlySpan<Lease> Fetch(ReadOnlySpan<TaskQueue> queues, int count, int leaseMs, LeaseSet owner)
    {
        int taken = 0;
        LeaseLane? lane = null;
        for (int priority = TaskQueue.Priorities - 1; priority >= 0 && taken < count; priority--)
        {
            foreach (TaskQueue queue in queues)
            {
                if (queue.Paused)
                    continue;
                TaskList ready = queue.ExternalReady(priority);
                while (taken < count && ready.First is { } task)
                {
                    lane ??= LaneFor(leaseMs);
                    if (taken == _fetched.Length)
                        Array.Resize(ref _fetched, Math.Min(count, taken * 2));
                    _fetched[taken++] = LeaseOut(task, lane, owner);
                }
                if (taken == count)
                    break;
            }
        }
        return _fetched.AsSpan(0, taken);
    }

    /// <summary>Registers a FETCH … BLOCK that found nothing; it is served as soon as one of its queues has work.</summary>
    public void Block(BlockedFetch fetch)
    {
        foreach (TaskQueue queue in fetch.Queues)
            fetch.Registrations.Add(queue.BlockedFetches.AddLast(fetch));
        BlockedFetches++;
    }

    /// <summary>A blocked FETCH is gone (served, timed out, or its connection closed).</summary>
    public void Unblock(BlockedFetch fetch)
    {
        if (fetch.Registrations.Count == 0)
            return;
        foreach (LinkedListNode<BlockedFetch> node in fetch.Registrations)
            node.List!.Remove(node);
        fetch.Registrations.Clear();
        BlockedFetches--;
    }

    /// <summary>
    /// Serves blocked FETCHes whose queues gained work since the last call: per queue, the oldest blocked
    /// fetch first, each taking what it asked for, until the queue is empty or no fetch waits. Called by
    /// the reactor once per iteration, so a burst of SUBMITs is handed out in batches.
    /// </summary>
    public void ServeBlockedFetches()
    {
        if (_externalWork.Count == 0)
            return;
        List<TaskQueue> queues = [.. _externalWork];
        _externalWork.Clear();
        foreach (TaskQueue queue in queues)
        {
            while (!queue.Paused && queue.HasExternalReady && queue.BlockedFetches.First is { } oldest)
            {
                BlockedFetch fetch = oldest.Value;
                Unblock(fetch);
                fetch.Serve(Fetch(fetch.Queues, fetch.Count, fetch.LeaseMs, fetch.Owner));
            }
        }
    }

    /// <summary>The delivery <paramref name="attempt"/> of <paramref name="task"/> as an external worker named it.</summary>
    public LeaseCheck Check(TaskRecord? task, int attempt, out Lease? lease)
    {
        lease = task?.Holder as Lease;
        if (task is null || lease is null || lease.Attempt != attempt)
        {
            lease = null;
            Leases.StaleRefused++;
            return LeaseCheck.Stale;
        }
        if (task.State == TaskState.Cancelled)
        {
            EndLease(lease);
            return LeaseCheck.Cancelled;
        }
        return IsCurrent(task, attempt) ? LeaseCheck.Current : LeaseCheck.Stale;
    }

    /// <summary>ACK: the delivery succeeded with <paramref name="result"/> (RESP-encoded bulk); false if the result is too large (the attempt failed).</summary>
    public bool Ack(Lease lease, byte[] result)
    {
        EndLease(lease);
        lease.Task.LeaseLosses = 0;
        return Succeed(lease.Task, lease.Attempt, result) && lease.Task.State == TaskState.Succeeded;
    }

    /// <summary>FAIL: the delivery failed; retried after backoff unless <paramref name="noRetry"/> or out of retries.</summary>
    public void FailLeased(Lease lease, string error, bool noRetry)
    {
        EndLease(lease);
        lease.Task.LeaseLosses = 0;
        Fail(lease.Task, lease.Attempt, error, retry: !noRetry);
    }

    /// <summary>NACK: back to its queue (after <paramref name="delayMs"/>) without counting a failure.</summary>
    public void Nack(Lease lease, long delayMs)
    {
        EndLease(lease);
        TaskRecord task = lease.Task;
        task.LeaseLosses = 0;
        Leave(task);
        task.RunAtMs = Clock.UnixMs + delayMs;
        Enter(task, delayMs > 0 ? TaskState.Scheduled : TaskState.Queued);
    }

    /// <summary>TOUCH: the lease runs <paramref name="leaseMs"/> from now (0: as long as it was asked for), at the tail of its length's lane.</summary>
    public void Touch(Lease lease, int leaseMs)
    {
        if (leaseMs > 0)
            lease.LeaseMs = leaseMs;
        lease.Lane!.Remove(lease);
        Arm(lease, LaneFor(lease.LeaseMs));
    }

    /// <summary>
    /// A lease was lost (it expired, or its worker's connection closed): the task goes back to its queue at
    /// once as a new delivery. Not a failure, so no retry is used, but after --max-lease-losses in a row the
    /// task fails: a task that kills every worker taking it must not do so forever.
    /// </summary>
    public void LoseLease(Lease lease, string reason)
    {
        EndLease(lease);
        TaskRecord task = lease.Task;
        if (!IsCurrent(task, lease.Attempt))
            return; // settled, cancelled or requeued already
        Leases.Lost++;
        task.LeaseLosses++;
        if (task.LeaseLosses >= _options.MaxLeaseLosses)
        {
            task.Error = $"lease lost {task.LeaseLosses} times";
            Finish(task, TaskState.Failed);
            Totals.Failed++;
            return;
        }
        task.Error = reason;
        Leave(task);
        Enter(task, TaskState.Queued, first: true);
    }

    /// <summary>A lease ran out without a TOUCH: the worker is presumed dead or stuck.</summary>
    public void ExpireLease(Lease lease)
    {
        if (IsCurrent(lease.Task, lease.Attempt))
            Leases.Expired++;
        LoseLease(lease, $"lease expired after {lease.LeaseMs} ms");
    }

    /// <summary>A worker's connection closed: every lease it held is lost.</summary>
    public void LoseAll(LeaseSet owner)
    {
        while (owner.First is { } lease)
        {
            if (IsCurrent(lease.Task, lease.Attempt))
                Leases.RequeuedOnClose++;
            LoseLease(lease, "lease lost: the worker's connection closed"); // ends it: out of the set
        }
    }

    /// <summary>
    /// A lane's timer fired: its head, if due, expires (one per firing, so the heap's fire budget still
    /// counts expiries and they stay in deadline order across lanes); then the lane re-arms for the head it
    /// has now. A lane found empty has been idle since its last head ended and is forgotten.
    /// </summary>
    internal void OnLaneDue(LeaseLane lane, long now)
    {
        if (lane.First is { } head && head.DueAt <= now)
            ExpireLease(head);
        if (lane.First is { } next)
            _timers.Schedule(lane, next.DueAt);
        else
            _lanes.Remove(lane.LeaseMs);
    }

    private Lease LeaseOut(TaskRecord task, LeaseLane lane, LeaseSet owner)
    {
        var lease = new Lease(task, task.Attempt + 1, lane.LeaseMs, owner);
        Start(task, lease);
        owner.Add(lease);
        Arm(lease, lane);
        Leases.Fetched++;
        return lease;
    }

    /// <summary>The lease runs out a lane's length from now, after every other lease of the lane.</summary>
    private void Arm(Lease lease, LeaseLane lane)
    {
        lane.Append(lease, Clock.TicksAfter(lane.LeaseMs));
        if (!lane.IsArmed)
            _timers.Schedule(lane, lease.DueAt); // an armed lane is due no later than its head, so no later than this lease
    }

    private LeaseLane LaneFor(int leaseMs)
    {
        ref LeaseLane? lane = ref CollectionsMarshal.GetValueRefOrAddDefault(_lanes, leaseMs, out _);
        return lane ??= new LeaseLane(leaseMs, this);
    }

    /// <summary>Out of its lane and its connection's set; a lease already ended (a cancelled one answered again) is left alone.</summary>
    private void EndLease(Lease lease)
    {
        if (lease.Lane is not { } lane)
            return;
        lane.Remove(lease);
        lease.Owner.Remove(lease);
    }

    private void NoteExternalWork(TaskQueue queue)
    {
        if (queue.BlockedFetches.Count > 0)
            _externalWork.Add(queue);
    }
}

internal enum LeaseCheck : byte
{
    Current,
    /// <summary>Not the current delivery: unknown id, finished, requeued, or another attempt.</summary>
    Stale,
    /// <summary>Cancelled while this delivery held it.</summary>
    Cancelled,
}

/// <summary>External workers' totals, for INFO.</summary>
internal sealed class LeaseTotals
{
    public long Fetched, Lost, Expired, RequeuedOnClose, StaleRefused;
}
