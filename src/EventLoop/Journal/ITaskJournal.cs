using EventLoop.Queueing;

namespace EventLoop.Journal;

/// <summary>
/// What the <see cref="TaskStore"/> tells the journal: state, not operations. Each call says "this is now
/// so" and is made from one place per transition (the store's Enter, Submit and Remove, schedule add,
/// remove and firing, queue pause). Null in the store when the journal is off. Reactor thread only.
/// </summary>
internal interface ITaskJournal
{
    /// <summary>A new task: everything it was submitted with, and its state.</summary>
    void TaskPut(TaskRecord task);

    /// <summary>A task changed state (or a field that goes with it: attempt, error, result…).</summary>
    void TaskState(TaskRecord task);

    /// <summary>A task is forgotten (expired, dropped).</summary>
    void TaskRemoved(TaskRecord task);

    void SchedulePut(Schedule schedule);

    void ScheduleRemoved(string name);

    void QueuePaused(TaskQueue queue);
}
