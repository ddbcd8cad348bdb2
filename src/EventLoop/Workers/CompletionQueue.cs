namespace EventLoop.Workers;

/// <summary>
/// Finished work items on their way back to the reactor: many producers (workers and asynchronous
/// continuations), one consumer (the reactor). A lock-free stack that the consumer empties in one
/// exchange and reverses, so items come out in the order they were pushed.
/// </summary>
/// <remarks>Intrusive (linked through <see cref="WorkItem.NextCompleted"/>): a push allocates nothing.
/// Taking the whole list at once sidesteps ABA, which a single-item pop would have to handle.</remarks>
internal sealed class CompletionQueue
{
    private WorkItem? _head;

    public bool IsEmpty => Volatile.Read(ref _head) is null;

    /// <summary>Publishes <paramref name="item"/>; everything written to it before happens-before the reactor's take.</summary>
    public void Push(WorkItem item)
    {
        WorkItem? head;
        do
        {
            head = Volatile.Read(ref _head);
            item.NextCompleted = head;
        }
        while (Interlocked.CompareExchange(ref _head, item, head) != head);
    }

    /// <summary>Takes every pushed item; returns the oldest, linked to the newer ones through <see cref="WorkItem.NextCompleted"/>.</summary>
    public WorkItem? TakeAll()
    {
        WorkItem? newest = Interlocked.Exchange(ref _head, null);
        WorkItem? oldest = null;
        while (newest is not null)
        {
            WorkItem? next = newest.NextCompleted;
            newest.NextCompleted = oldest;
            oldest = newest;
            newest = next;
        }
        return oldest;
    }
}
