using EventLoop.Buffers;
using EventLoop.Queueing;

namespace EventLoop.Journal;

/// <summary>
/// Turns the store's state changes into records appended to the reactor's current batch, each with the
/// next sequence number (LSN). Reactor-owned; nothing is allocated per record once the batch buffer has
/// grown to a pass's size (a record's bound is reserved first, then it is written in place with <see cref="RecordWriter"/>).
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
        var record = Begin(Live, Header + IdBound(task) + StateBound(task), RecordType.TaskState);
        WriteId(ref record, task);
        WriteState(ref record, task);
        Live.Advance(record.Finish());
    }

    public void TaskRemoved(TaskRecord task)
    {
        var record = Begin(Live, Header + IdBound(task), RecordType.TaskRemoved);
        WriteId(ref record, task);
        Live.Advance(record.Finish());
    }

    public void SchedulePut(Schedule schedule) => WriteSchedulePut(schedule, Live);

    public void ScheduleRemoved(string name)
    {
        var record = Begin(Live, Header + JournalFormat.StringBound(name), RecordType.ScheduleRemoved);
        record.String(name);
        Live.Advance(record.Finish());
    }

    public void QueuePaused(TaskQueue queue) => WriteQueuePaused(queue, Live);

    /// <summary>A task's whole record (submit, or a rewrite's snapshot) into <paramref name="target"/>.</summary>
    public void WriteTaskPut(TaskRecord task, PooledBuffer target)
    {
        int bound = Header + IdBound(task) + JournalFormat.BytesBound(task.Definition.NameUtf8) + JournalFormat.BytesBound(task.Queue.NameUtf8)
                    + 1 + 4 * JournalFormat.MaxIntSize + JournalFormat.StringBound(task.Key) + JournalFormat.MaxLongSize
                    + JournalFormat.BytesBound(task.Arguments) + StateBound(task);
        var record = Begin(target, bound, RecordType.TaskPut);
        WriteId(ref record, task);
        record.Utf8(task.Definition.NameUtf8); // encoded once, not per record
        record.Utf8(task.Queue.NameUtf8);
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
        int bound = Header + JournalFormat.StringBound(schedule.Name) + JournalFormat.StringBound(schedule.Spec)
                    + JournalFormat.StringBound(t.Task) + JournalFormat.StringBound(t.Queue) + 1 + 4 * JournalFormat.MaxIntSize
                    + JournalFormat.BytesBound(t.Arguments) + JournalFormat.MaxLongSize;
        var record = Begin(target, bound, RecordType.SchedulePut);
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
        var record = Begin(target, Header + JournalFormat.StringBound(queue.Name) + 1, RecordType.QueuePaused);
        record.String(queue.Name);
        record.Byte(queue.Paused ? (byte)1 : (byte)0);
        target.Advance(record.Finish());
    }

    /// <summary>Frame, type and LSN: the fixed part of every record.</summary>
    private const int Header = JournalFormat.FrameSize + JournalFormat.MinBody;

    private RecordWriter Begin(PooledBuffer target, int bound, RecordType type)
    {
        Records++;
        return new RecordWriter(target.GetSpan(bound), type, ++LastLsn);
    }

    private static int IdBound(TaskRecord task) => JournalFormat.MaxLongSize + JournalFormat.StringBound(task.NamedId);

    private static void WriteId(ref RecordWriter record, TaskRecord task)
    {
        record.Long(task.Number);
        record.String(task.NamedId);
    }

    private static int StateBound(TaskRecord task) =>
        1 + 3 * JournalFormat.MaxIntSize + 3 * JournalFormat.MaxLongSize + JournalFormat.StringBound(task.Error)
        + JournalFormat.MaxIntSize + (task.Result?.Length ?? 0);

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
