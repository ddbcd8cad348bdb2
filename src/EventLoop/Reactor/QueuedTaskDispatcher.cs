using EventLoop.Queueing;
using EventLoop.Workers;

namespace EventLoop.Reactor;

/// <summary>
/// Carries the store's decisions to the in-process workers: hands ready queued tasks to the ring (each
/// in a work item that runs one attempt), and takes their outcomes back to the store when the items
/// return through the completion queue. Uses the same two hand-off points as <c>RUN</c>, and runs a
/// proven-short task on the reactor instead when the <see cref="InlineTaskRunner"/> says so. Reactor-owned.
/// </summary>
/// <remarks>
/// At most a ring's worth of queued tasks run at once: asynchronous handlers leave the ring while they
/// await, and without a bound a million queued <c>sleep</c> tasks would all start together.
/// </remarks>
internal sealed class QueuedTaskDispatcher(TaskStore store, WorkerPool workers, InlineTaskRunner inline, Func<WorkItem> rentItem, Action<WorkItem> recycle)
{
    /// <summary>Queued tasks the reactor runs itself per pass: the rest wait for the next pass, after the pending I/O.</summary>
    private const int InlineRunsPerPass = 1024;
    private int _inFlight;

    /// <summary>There is a ready task and room for it: the reactor should not sleep.</summary>
    public bool CanDispatch => store.HasRunnable && HasRoom;

    private bool HasRoom => _inFlight < workers.RingCapacity && workers.RingDepth < workers.RingCapacity;

    /// <summary>Hands ready tasks to the ring while it has room, or runs them here; returns how many went to the ring.</summary>
    public int Dispatch()
    {
        int dispatched = 0;
        int ranHere = 0;
        while (HasRoom && ranHere < InlineRunsPerPass && store.TakeRunnable() is { } task)
        {
            WorkItem item = rentItem();
            int attempt = store.Start(task, item);
            item.BeginQueuedRun(task, attempt, workers.AbortToken);
            if (inline.Accepts(item.Task!))
            {
                inline.Run(item);
                Settle(item);
                recycle(item);
                ranHere++;
                continue;
            }
            item.State = WorkState.Running;
            // The reactor is the ring's only producer and saw room above, so this enqueue succeeds.
            if (!workers.TrySubmit(item))
                throw new InvalidOperationException("the ring refused a task after reporting room");
            _inFlight++;
            dispatched++;
        }
        return dispatched;
    }

    /// <summary>A queued task's run came back: its outcome goes to the store, which ignores a stale attempt.</summary>
    public void Complete(WorkItem item)
    {
        _inFlight--;
        Settle(item);
    }

    private void Settle(WorkItem item)
    {
        TaskRecord task = item.QueuedTask!;
        if (!TaskStore.IsCurrent(task, item.Attempt))
            return; // cancelled, timed out or handed out again meanwhile
        if (item.FailureMessage is { } failure)
            store.Fail(task, item.Attempt, failure, retry: true);
        else
            store.Succeed(task, item.Attempt, item.Reply.WrittenSpan.ToArray());
    }
}
