namespace EventLoop.Queueing;

/// <summary>
/// One named queue: its ready tasks by priority, kept apart for in-process handlers and for external
/// workers (each side takes only what it can run), its counters, and whether it is paused. Reactor-owned.
/// </summary>
internal sealed class TaskQueue(string name, TaskStore store)
{
    public const int Priorities = 10;

    private readonly TaskList[] _inProcess = NewLists();
    private readonly TaskList[] _external = NewLists();

    public string Name { get; } = name;

    /// <summary><see cref="Name"/> encoded once, for the journal's records and the store's byte compare.</summary>
    internal byte[] NameUtf8 { get; } = System.Text.Encoding.UTF8.GetBytes(name);

    public TaskStore Store { get; } = store;

    /// <summary>QUEUE PAUSE: accepts SUBMITs, hands nothing out.</summary>
    public bool Paused;

    /// <summary>In the store's round of queues with in-process work to hand out.</summary>
    public bool InRunnableRound;

    public int Queued;
    public int Running;

    /// <summary>Scheduled and retrying tasks: those waiting for their time.</summary>
    public int Waiting;

    /// <summary>Tasks of any state that name this queue, finished ones included (their STATUS and the dead set do).</summary>
    public int Records;

    /// <summary>Holds nothing: no task, no blocked FETCH, no pause. Such a queue may be retired (TaskStore.GetOrCreateQueue).</summary>
    public bool IsIdle => Records == 0 && BlockedFetches.Count == 0 && !Paused && !InRunnableRound;

    public bool HasInProcessReady => CountReady(_inProcess) > 0;

    public bool HasExternalReady => CountReady(_external) > 0;

    /// <summary>The ready list <paramref name="task"/> belongs in.</summary>
    public TaskList ReadyList(TaskRecord task) => (task.Handler is null ? _external : _inProcess)[task.Priority];

    /// <summary>External workers' ready tasks of one priority.</summary>
    public TaskList ExternalReady(int priority) => _external[priority];

    /// <summary>FETCH … BLOCK requests waiting for this queue, oldest first.</summary>
    public LinkedList<BlockedFetch> BlockedFetches { get; } = new();

    /// <summary>The highest-priority ready task for in-process handlers (external workers with <paramref name="external"/>), oldest first.</summary>
    public TaskRecord? PeekReady(bool external)
    {
        TaskList[] lists = external ? _external : _inProcess;
        for (int priority = Priorities - 1; priority >= 0; priority--)
        {
            if (lists[priority].First is { } first)
                return first;
        }
        return null;
    }

    /// <summary>The oldest created time among ready tasks, or 0 when none is ready.</summary>
    public long OldestReadyCreatedMs() => Oldest(_external, Oldest(_inProcess, 0));

    private static long Oldest(TaskList[] lists, long oldest)
    {
        foreach (TaskList list in lists)
        {
            if (list.First is { } first && (oldest == 0 || first.CreatedMs < oldest))
                oldest = first.CreatedMs;
        }
        return oldest;
    }

    private static int CountReady(TaskList[] lists)
    {
        int count = 0;
        foreach (TaskList list in lists)
            count += list.Count;
        return count;
    }

    private static TaskList[] NewLists()
    {
        var lists = new TaskList[Priorities];
        for (int i = 0; i < lists.Length; i++)
            lists[i] = new TaskList();
        return lists;
    }
}
