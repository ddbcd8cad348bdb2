using EventLoop.Buffers;
using EventLoop.Queueing;

namespace EventLoop.Journal;

/// <summary>
/// Turns the store's state changes into records appended to the reactor's current batch, each with the
/// next sequence number (LSN). Reactor-owned; nothing is allocated per record once the batch buffer has
/// grown to a pass's size (records are sized first, then written in place with <see cref="RecordWriter"/>).
/// </summary>
internal sealed class JournalEncoder(long lastLsn) : ITaskJournal
{
    /// <summary>Where live records go: the batch the reactor hands over at the end of the pass.</summary>
    public PooledBuffer Live { get; set; } = new();

    /// <summary>The LSN of the newest record encoded.</summary>
    public long LastLsn { get; private set; } = lastLsn;

    public long Records { get; private set; }

    public void TaskPut(TaskRecord task) => WriteTaskPut(task, Live);

    public void TaskState(TaskRecord task)
    {
        int size = JournalFormat.FrameSize + JournalFormat.MinBody + IdSize(task) + StateSize(task);
        var record = Begin(Live, size, RecordType.TaskState);
        WriteId(ref record, task);
        WriteState(ref record, task);
        Live.Advance(record.Finish());
    }

    public void TaskRemoved(TaskRecord task)
    {
        int size = JournalFormat.FrameSize + JournalFormat.MinBody + IdSize(task);
        var record = Begin(Live, size, RecordType.TaskRemoved);
        WriteId(ref record, task);
        Live.Advance(record.Finish());
    }

    public void SchedulePut(Schedule schedule) => WriteSchedulePut(schedule, Live);

    public void ScheduleRemoved(string name)
    {
        int size = JournalFormat.FrameSize + JournalFormat.MinBody + JournalFormat.StringSize(name);
        var record = Begin(Live, size, RecordType.ScheduleRemoved);
        record.String(name);
        Live.Advance(record.Finish());
    }

    public void QueuePaused(TaskQueue queue) => WriteQueuePaused(queue, Live);

    /// <summary>A task's whole record (submit, or a rewrite's snapshot) into <paramref name="target"/>.</summary>
    public void WriteTaskPut(TaskRecord task, PooledBuffer target)
    {
        int size = JournalFormat.FrameSize + JournalFormat.MinBody + IdSize(task)
                   + JournalFormat.StringSize(task.Name) + JournalFormat.StringSize(task.Queue.Name) + 1 + 4 * 4
                   + JournalFormat.StringSize(task.Key) + 8 + JournalFormat.BytesSize(task.Arguments) + StateSize(task);
        var record = Begin(target, size, RecordType.TaskPut);
        WriteId(ref record, task);
        record.String(task.Name);
        record.String(task.Queue.Name);
        record.Byte(task.Priority);
        record.Int(task.Retries);
        record.Int(task.BackoffMs);
        record.Int(task.TimeoutMs);
        record.Int(task.ResultTtlSeconds);
        record.String(task.Key);
        record.Long(task.CreatedMs);
        record.Bytes(task.Arguments);
        WriteState(ref record, task);
        target.Advance(record.Finish());
    }

    public void WriteSchedulePut(Schedule schedule, PooledBuffer target)
    {
        TaskTemplate t = schedule.Template;
        int size = JournalFormat.FrameSize + JournalFormat.MinBody + JournalFormat.StringSize(schedule.Name) + JournalFormat.StringSize(schedule.Spec)
                   + JournalFormat.StringSize(t.Task) + JournalFormat.StringSize(t.Queue) + 1 + 4 * 4 + JournalFormat.BytesSize(t.Arguments) + 8;
        var record = Begin(target, size, RecordType.SchedulePut);
        record.String(schedule.Name);
        record.String(schedule.Spec);
        record.String(t.Task);
        record.String(t.Queue);
        record.Byte((byte)t.Priority);
        record.Int(t.Retries);
        record.Int(t.BackoffMs);
        record.Int(t.TimeoutMs);
        record.Int(t.ResultTtlSeconds);
        record.Bytes(t.Arguments);
        record.Long(schedule.NextFireMs);
        target.Advance(record.Finish());
    }

    public void WriteQueuePaused(TaskQueue queue, PooledBuffer target)
    {
        int size = JournalFormat.FrameSize + JournalFormat.MinBody + JournalFormat.StringSize(queue.Name) + 1;
        var record = Begin(target, size, RecordType.QueuePaused);
        record.String(queue.Name);
        record.Byte(queue.Paused ? (byte)1 : (byte)0);
        target.Advance(record.Finish());
    }

    private RecordWriter Begin(PooledBuffer target, int size, RecordType type)
    {
        Records++;
        return new RecordWriter(target.GetSpan(size), size, type, ++LastLsn);
    }

    private static int IdSize(TaskRecord task) => 8 + JournalFormat.StringSize(task.NamedId);

    private static void WriteId(ref RecordWriter record, TaskRecord task)
    {
        record.Long(task.Number);
        record.String(task.NamedId);
    }

    private static int StateSize(TaskRecord task) =>
        1 + 4 * 3 + 8 * 3 + JournalFormat.StringSize(task.Error) + 4 + (task.Result?.Length ?? 0);

    private static void WriteState(ref RecordWriter record, TaskRecord task)
    {
        record.Byte((byte)task.State);
        record.Int(task.Attempt);
        record.Int(task.Failures);
        record.Int(task.LeaseLosses);
        record.Long(task.RunAtMs);
        record.Long(task.StartedMs);
        record.Long(task.FinishedMs);
        record.String(task.Error);
        record.Bytes(task.Result, isNull: task.Result is null);
    }
}
