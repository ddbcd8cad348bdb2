namespace EventLoop.Stores;

/// <summary>
/// What the dashboard and /metrics show of the queue, from whichever store holds it: built by the store
/// (<see cref="IQueueStore.Overview"/>) and never changed after, so the HTTP threads read it without locks.
/// </summary>
/// <param name="Queues">Every queue that holds a task or was paused, by name.</param>
/// <param name="Tasks">Tasks held (finished ones whose results are kept included).</param>
/// <param name="OldestReadyCreatedMs">When the oldest ready task was submitted (Unix ms; 0: none is ready).</param>
/// <param name="DeadCount">Failed tasks in the dead set, all of them.</param>
/// <param name="Dead">The oldest <see cref="DeadListed"/> of them, oldest failure first.</param>
/// <param name="Schedules">The periodic schedules, by name.</param>
/// <param name="ReadAtMs">When these figures were read (Unix ms): the in-memory store's at each snapshot, PostgreSQL's at its last overview query.</param>
/// <param name="ReadError">Why the store's later tries to read them failed (the database down…), the figures then being as of <paramref name="ReadAtMs"/>; null when the last try succeeded.</param>
internal sealed record QueueOverview(
    IReadOnlyList<QueueView> Queues, long Tasks, long OldestReadyCreatedMs, long DeadCount, IReadOnlyList<DeadTaskView> Dead,
    IReadOnlyList<ScheduleView> Schedules, long ReadAtMs, string? ReadError = null)
{
    /// <summary>Dead tasks listed at most: a million dead tasks cost the overview what a hundred do.</summary>
    public const int DeadListed = 100;

    /// <summary>Before the first overview was read: nothing is known, which the snapshot says with <see cref="ReadAtMs"/> 0.</summary>
    public static readonly QueueOverview Unread = new([], 0, 0, 0, [], [], 0);
}

/// <summary>One queue: ready tasks, running ones, ones waiting for their time (delay, backoff), paused or not.</summary>
internal sealed record QueueView(string Name, long Queued, long Running, long Scheduled, bool Paused);

/// <summary>A task in the dead set.</summary>
internal sealed record DeadTaskView(string Id, string Task, string Queue, string? Error, long FinishedAtMs, int Attempt);

/// <summary>A periodic schedule and when it fires next (0: never again).</summary>
internal sealed record ScheduleView(string Name, string Spec, string Task, string Queue, long NextFireMs);

/// <summary>The changes the dashboard may make, on either store.</summary>
internal enum QueueChange
{
    /// <summary>QUEUE PAUSE: false when max-queues stops a new queue from being made.</summary>
    Pause,
    /// <summary>QUEUE RESUME: as <see cref="Pause"/>.</summary>
    Resume,
    /// <summary>DEAD RETRY: false when the task is not in the dead set.</summary>
    RetryDead,
    /// <summary>DEAD DROP: false when the task is not in the dead set.</summary>
    DropDead,
}
