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

/// <summary>The options a task was submitted with, shared by every task submitted with the same ones.</summary>
internal sealed record TaskOptions(int Retries, int BackoffMs, int TimeoutMs, int ResultTtlSeconds);

/// <summary>
/// What a task holds only once it has run, failed, been keyed or named, or is waited for: kept apart so
/// that a queued task, the common case by far, does not carry it.
/// </summary>
internal sealed class TaskDetails
{
    public string? NamedId;
    public string? Error;
    public byte[]? Result;
    public string? Key;
    public ITaskHolder? Holder;
    public object? Waiters;
    public long StartedMs;
    public long FinishedMs;
    public int Failures;
    public int LeaseLosses;
}

/// <summary>
/// One task of the queue: what to run, its options, where it stands, and its outcome. Owned by the
/// reactor thread through <see cref="TaskStore"/>; a worker sees only a copy of its arguments.
/// </summary>
/// <remarks>
/// Laid out for a million queued tasks: it is its own timer entry (one deadline at a time is all a task
/// has: its run time while scheduled or retrying, its timeout while running, its expiry once finished)
/// and its own list node (a task is in at most one list: its queue's ready list, or the dead set); its
/// options are shared with every task submitted alike; and what only a started, finished, keyed or
/// awaited task needs lives in <see cref="TaskDetails"/>, created on first use. About 128 bytes plus its
/// packed arguments.
/// </remarks>
internal sealed class TaskRecord : TimerEntry
{
    private TaskDetails? _details;

    public TaskRecord(long number, string? namedId, TaskDefinition definition, TaskQueue queue, TaskOptions options, byte[] arguments)
    {
        Number = number;
        Definition = definition;
        Queue = queue;
        Options = options;
        Arguments = arguments;
        if (namedId is not null)
            Details.NamedId = namedId;
    }

    /// <summary>The id of a SUBMIT: a number. 0 for a task with a <see cref="NamedId"/>.</summary>
    public readonly long Number;

    /// <summary>The task's name and, when it has one, its in-process handler.</summary>
    public readonly TaskDefinition Definition;

    public readonly TaskQueue Queue;

    public readonly TaskOptions Options;

    /// <summary>Arguments in <see cref="PackedArguments"/> form.</summary>
    public readonly byte[] Arguments;

    public TaskState State;
    public byte Priority;
    public int Attempt;
    public long CreatedMs;
    public long RunAtMs;

    /// <summary>Links in the one <see cref="TaskList"/> the task is in, if any.</summary>
    public TaskRecord? Previous, Next;

    public string Name => Definition.Name;

    /// <summary>The in-process handler, or null: the task waits for an external worker.</summary>
    public TaskDefinition? Handler => Definition.IsInProcess ? Definition : null;

    public int Retries => Options.Retries;
    public int BackoffMs => Options.BackoffMs;
    public int TimeoutMs => Options.TimeoutMs;
    public int ResultTtlSeconds => Options.ResultTtlSeconds;

    private TaskDetails Details => _details ??= new TaskDetails();

    /// <summary>The id of a schedule's firing (<c>name@fire-ms</c>), null for a SUBMIT's numbered task.</summary>
    public string? NamedId => _details?.NamedId;

    /// <summary>The last attempt's error, kept through later attempts.</summary>
    public string? Error { get => _details?.Error; set { if (value is not null || _details is not null) Details.Error = value; } }

    /// <summary>The result, RESP-encoded as the bulk string RESULT answers with.</summary>
    public byte[]? Result { get => _details?.Result; set { if (value is not null || _details is not null) Details.Result = value; } }

    /// <summary>Idempotency key, indexed while the task is not finished.</summary>
    public string? Key { get => _details?.Key; set { if (value is not null || _details is not null) Details.Key = value; } }

    /// <summary>Who runs it while <see cref="TaskState.Running"/>.</summary>
    public ITaskHolder? Holder { get => _details?.Holder; set { if (value is not null || _details is not null) Details.Holder = value; } }

    /// <summary>Parked requests waiting for it to finish: null, one <see cref="ITaskWaiter"/>, or a list of them.</summary>
    public object? Waiters { get => _details?.Waiters; set { if (value is not null || _details is not null) Details.Waiters = value; } }

    public long StartedMs { get => _details?.StartedMs ?? 0; set { if (value != 0 || _details is not null) Details.StartedMs = value; } }

    public long FinishedMs { get => _details?.FinishedMs ?? 0; set { if (value != 0 || _details is not null) Details.FinishedMs = value; } }

    public int Failures { get => _details?.Failures ?? 0; set { if (value != 0 || _details is not null) Details.Failures = value; } }

    public int LeaseLosses { get => _details?.LeaseLosses ?? 0; set { if (value != 0 || _details is not null) Details.LeaseLosses = value; } }

    internal override void OnDue(long now) => Queue.Store.OnTaskDue(this);

    /// <summary>Writes the id as a bulk string.</summary>
    public void WriteId(IBufferWriter<byte> writer)
    {
        if (NamedId is { } named)
        {
            Protocol.RespWriter.WriteBulkString(writer, named);
            return;
        }
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(Number, digits, out int length);
        Protocol.RespWriter.WriteBulkString(writer, digits[..length]);
    }

    public string IdText => NamedId ?? Number.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
