namespace EventLoop.Queueing;

/// <summary>
/// Where a task of the queue is in its life. Every transition is drawn once in docs/tasks.md and made in one
/// place, <see cref="TaskStore"/>'s Enter/Leave pair.
/// </summary>
/// <remarks>
/// <code>
///  SUBMIT ─┬─ DELAY/AT ──▶ scheduled ──(due)──┐
///          └──────────────────────────────────┴─▶ queued ──(handed out)──▶ running ──▶ succeeded
///                    ▲                              ▲                        │
///                    └────── retrying ◀──(fails, retries left)──────────────┤
///                                  DEAD RETRY ──────┘                        └──(no retries left)──▶ failed (dead set)
///  CANCEL from scheduled, queued, retrying or running ──▶ cancelled
/// </code>
/// </remarks>
public enum TaskState : byte
{
    /// <summary>Waits for its time (DELAY, AT).</summary>
    Scheduled,
    /// <summary>Ready, waiting for a worker.</summary>
    Queued,
    /// <summary>An attempt is running (in process or on an external worker's lease).</summary>
    Running,
    /// <summary>An attempt failed; waits for its backoff before it is queued again.</summary>
    Retrying,
    /// <summary>Finished with a result.</summary>
    Succeeded,
    /// <summary>Failed with no retries left: in the dead set.</summary>
    Failed,
    /// <summary>Cancelled before it finished.</summary>
    Cancelled,
}

internal static class TaskStates
{
    public const int Count = 7;

    private static readonly byte[][] Words =
        ["scheduled"u8.ToArray(), "queued"u8.ToArray(), "running"u8.ToArray(), "retrying"u8.ToArray(),
         "succeeded"u8.ToArray(), "failed"u8.ToArray(), "cancelled"u8.ToArray()];

    /// <summary>The state as the wire spells it (STATUS, -PENDING).</summary>
    public static ReadOnlySpan<byte> Word(this TaskState state) => Words[(int)state];

    public static bool IsFinished(this TaskState state) => state >= TaskState.Succeeded;
}
