namespace EventLoop.Queueing;

/// <summary>
/// An intrusive FIFO of tasks linked through <see cref="TaskRecord.Previous"/>/<see cref="TaskRecord.Next"/>: a ready
/// list or the dead set, with removal from the middle for CANCEL of a queued task. Reactor-owned.
/// </summary>
internal sealed class TaskList : IntrusiveList<TaskRecord, TaskList.Links>
{
    internal readonly struct Links : IListLinks<TaskRecord>
    {
        public static ref TaskRecord? Previous(TaskRecord task) => ref task.Previous;

        public static ref TaskRecord? Next(TaskRecord task) => ref task.Next;
    }
}
