using System.Buffers;
using System.Buffers.Text;
using EventLoop.Tasks;
using EventLoop.Timers;

namespace EventLoop.Queueing;

/// <summary>
/// Something that holds a running task: the work item running it in process, or (later) an external
/// worker's lease. Told when the task must stop (CANCEL, TIMEOUT) so the holder can pass it on.
/// </summary>
internal interface ITaskHolder
{
    void CancelRun();
}

/// <summary>
/// One task of the queue: what to run, its options, where it stands, and its outcome. Owned by the
/// reactor thread through <see cref="TaskStore"/>; a worker sees only a copy of its arguments.
/// </summary>
/// <remarks>
/// It is its own timer entry (one deadline at a time is all a task has: its run time while scheduled or
/// retrying, its timeout while running, its expiry once finished) and its own list node (a task is in
/// at most one list: its queue's ready list, or the dead set), so a million tasks cost one object each
/// plus their argument bytes.
/// </remarks>
internal sealed class TaskRecord : TimerEntry
{
    public TaskRecord(long number, string? namedId, string name, TaskDefinition? handler, TaskQueue queue, byte[] arguments)
    {
        Number = number;
        NamedId = namedId;
        Name = name;
        Handler = handler;
        Queue = queue;
        Arguments = arguments;
    }

    /// <summary>The id of a SUBMIT: a number. 0 for a task with a <see cref="NamedId"/>.</summary>
    public readonly long Number;

    /// <summary>The id of a schedule's firing (<c>name@fire-ms</c>), null for a SUBMIT's numbered task.</summary>
    public readonly string? NamedId;

    public readonly string Name;

    /// <summary>The in-process handler, or null: the task waits for an external worker.</summary>
    public readonly TaskDefinition? Handler;

    public readonly TaskQueue Queue;

    /// <summary>Arguments in <see cref="PackedArguments"/> form.</summary>
    public readonly byte[] Arguments;

    public TaskState State;
    public byte Priority;
    public int Attempt;
    public int Failures;
    public int LeaseLosses;
    public int Retries;
    public int BackoffMs;
    public int TimeoutMs;
    public int ResultTtlSeconds;
    public long CreatedMs;
    public long RunAtMs;
    public long StartedMs;
    public long FinishedMs;

    /// <summary>The last attempt's error, kept through later attempts.</summary>
    public string? Error;

    /// <summary>The result, RESP-encoded as the bulk string RESULT answers with.</summary>
    public byte[]? Result;

    /// <summary>Idempotency key, indexed while the task is not finished.</summary>
    public string? Key;

    /// <summary>Who runs it while <see cref="TaskState.Running"/>.</summary>
    public ITaskHolder? Holder;

    /// <summary>Parked requests waiting for it to finish: null, one <see cref="ITaskWaiter"/>, or a list of them.</summary>
    public object? Waiters;

    /// <summary>Links in the one <see cref="TaskList"/> the task is in, if any.</summary>
    public TaskRecord? Previous, Next;

    internal override void OnDue(long now) => Queue.Store.OnTaskDue(this);

    /// <summary>Writes the id as a bulk string.</summary>
    public void WriteId(IBufferWriter<byte> writer)
    {
        if (NamedId is not null)
        {
            Protocol.RespWriter.WriteBulkString(writer, NamedId);
            return;
        }
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(Number, digits, out int length);
        Protocol.RespWriter.WriteBulkString(writer, digits[..length]);
    }

    public string IdText => NamedId ?? Number.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
