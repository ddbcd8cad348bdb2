namespace EventLoop.Queueing;

/// <summary>
/// An intrusive FIFO of tasks linked through <see cref="TaskRecord.Previous"/>/<see cref="TaskRecord.Next"/>:
/// O(1) append, take and removal from the middle (CANCEL of a queued task), no node allocation.
/// Reactor-owned.
/// </summary>
internal sealed class TaskList
{
    public TaskRecord? First { get; private set; }

    private TaskRecord? _last;

    public int Count { get; private set; }

    public void AddLast(TaskRecord task)
    {
        task.Previous = _last;
        task.Next = null;
        if (_last is null)
            First = task;
        else
            _last.Next = task;
        _last = task;
        Count++;
    }

    public void AddFirst(TaskRecord task)
    {
        task.Previous = null;
        task.Next = First;
        if (First is null)
            _last = task;
        else
            First.Previous = task;
        First = task;
        Count++;
    }

    public void Remove(TaskRecord task)
    {
        if (task.Previous is null)
            First = task.Next;
        else
            task.Previous.Next = task.Next;
        if (task.Next is null)
            _last = task.Previous;
        else
            task.Next.Previous = task.Previous;
        task.Previous = task.Next = null;
        Count--;
    }

    public TaskRecord? TakeFirst()
    {
        TaskRecord? first = First;
        if (first is not null)
            Remove(first);
        return first;
    }
}
