namespace EventLoop.Client;

/// <summary>
/// Options of <c>SUBMIT</c> (and, except <see cref="Delay"/>, <see cref="At"/> and <see cref="Key"/>, of
/// <c>SCHEDULE ADD</c>). A null property is not sent, so the server's default applies.
/// </summary>
public sealed record SubmitOptions
{
    /// <summary>The queue (<c>QUEUE q</c>); the server's default is <c>default</c>.</summary>
    public string? Queue { get; init; }

    /// <summary>Priority 0-9 (<c>PRIORITY p</c>); 9 runs first, default 0.</summary>
    public int? Priority { get; init; }

    /// <summary>Run no sooner than this from now (<c>DELAY ms</c>, whole milliseconds). Not with <see cref="At"/>.</summary>
    public TimeSpan? Delay { get; init; }

    /// <summary>Run no sooner than this instant (<c>AT unix-ms</c>); an instant in the past runs now. Not with <see cref="Delay"/>.</summary>
    public DateTimeOffset? At { get; init; }

    /// <summary>How many failures are retried (<c>RETRIES n</c>); default 0.</summary>
    public int? Retries { get; init; }

    /// <summary>The first retry's nominal delay, doubling after each failure (<c>BACKOFF ms</c>); default 1 s.</summary>
    public TimeSpan? Backoff { get; init; }

    /// <summary>A run longer than this fails the attempt (<c>TIMEOUT ms</c>); zero: the server's default.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Idempotency key (<c>KEY k</c>): while a task with this key is unfinished, SUBMIT returns its id.</summary>
    public string? Key { get; init; }

    /// <summary>How long the outcome is kept after the task finishes (<c>RESULT-TTL s</c>, rounded up to whole seconds); default 1 h.</summary>
    public TimeSpan? ResultTtl { get; init; }
}

/// <summary>The state of a queued task, as <c>STATUS</c> reports it.</summary>
public enum TaskState
{
    /// <summary>Waits for its time (<c>DELAY</c>, <c>AT</c>).</summary>
    Scheduled,

    /// <summary>Waits in its queue for a worker.</summary>
    Queued,

    /// <summary>An attempt is running.</summary>
    Running,

    /// <summary>An attempt failed; waits for its backoff before it is queued again.</summary>
    Retrying,

    /// <summary>Finished with a result.</summary>
    Succeeded,

    /// <summary>Finished after its last allowed failure; it is in the dead set.</summary>
    Failed,

    /// <summary>Finished because it was cancelled.</summary>
    Cancelled,
}

/// <summary>
/// One task's status (the reply to <c>STATUS id</c>). Named <c>TaskStatusInfo</c> rather than <c>TaskStatus</c> so that
/// it does not clash with <see cref="System.Threading.Tasks.TaskStatus"/>, which implicit usings bring into every file.
/// </summary>
public sealed record TaskStatusInfo
{
    /// <summary>The task's id.</summary>
    public required string Id { get; init; }

    /// <summary>The task's name (what it runs).</summary>
    public required string Task { get; init; }

    /// <summary>The queue it is in.</summary>
    public required string Queue { get; init; }

    /// <summary>Its state.</summary>
    public required TaskState State { get; init; }

    /// <summary>The delivery number: 0 until first handed out, 1 for the first run, +1 for each later one.</summary>
    public required long Attempt { get; init; }

    /// <summary>Its priority, 0-9.</summary>
    public required int Priority { get; init; }

    /// <summary>When it was submitted.</summary>
    public DateTimeOffset? CreatedAt { get; init; }

    /// <summary>When it becomes (or became) runnable.</summary>
    public DateTimeOffset? RunAt { get; init; }

    /// <summary>When its latest attempt started; null before the first.</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>When it finished; null while unfinished.</summary>
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>The last error message; null when there was none.</summary>
    public string? Error { get; init; }

    /// <summary>True once succeeded, failed or cancelled.</summary>
    public bool IsFinished => State is TaskState.Succeeded or TaskState.Failed or TaskState.Cancelled;
}

/// <summary>What <c>CANCEL id</c> did.</summary>
public enum CancelOutcome
{
    /// <summary>The id is unknown (it never existed, or its result expired): nil.</summary>
    NotFound,

    /// <summary>The task will not run again (<c>:1</c>).</summary>
    Cancelled,

    /// <summary>The task had already finished; nothing changed (<c>:0</c>).</summary>
    AlreadyFinished,
}

/// <summary>One queue as <c>QUEUES</c> reports it.</summary>
public sealed record QueueInfo
{
    /// <summary>The queue's name.</summary>
    public required string Name { get; init; }

    /// <summary>Tasks waiting in it for a worker.</summary>
    public required long Queued { get; init; }

    /// <summary>Tasks of it running now.</summary>
    public required long Running { get; init; }

    /// <summary>Tasks of it waiting for their time: scheduled and retrying ones.</summary>
    public required long Scheduled { get; init; }

    /// <summary>True while paused: it accepts tasks but hands nothing out.</summary>
    public required bool Paused { get; init; }
}

/// <summary>One periodic schedule as <c>SCHEDULE LIST</c> reports it.</summary>
public sealed record ScheduleInfo
{
    /// <summary>The schedule's name; its firings have ids <c>name@fire-unix-ms</c>.</summary>
    public required string Name { get; init; }

    /// <summary>The spec as the server writes it: <c>EVERY 100</c>, <c>CRON 0 3 * * *</c>, <c>CRON 0 3 * * * TZ Europe/Paris</c>.</summary>
    public required string Spec { get; init; }

    /// <summary>The task each firing submits.</summary>
    public required string Task { get; init; }

    /// <summary>The next firing.</summary>
    public required DateTimeOffset NextFireAt { get; init; }
}

/// <summary>Base of the exceptions <see cref="EventLoopClient.ResultAsync"/> throws when a task has no result to give.</summary>
public abstract class TaskResultException : Exception
{
    private protected TaskResultException(string id, string message) : base(message) => Id = id;

    /// <summary>The task's id.</summary>
    public string Id { get; }
}

/// <summary>The task failed for good (<c>-FAILED error</c>): no retries were left.</summary>
public sealed class TaskFailedException : TaskResultException
{
    /// <summary>Creates the exception for task <paramref name="id"/> with its last error.</summary>
    public TaskFailedException(string id, string error) : base(id, $"task {id} failed: {error}") => Error = error;

    /// <summary>The task's last error message, as the server reported it.</summary>
    public string Error { get; }
}

/// <summary>The task was cancelled (<c>-CANCELLED</c>).</summary>
public sealed class TaskCancelledException : TaskResultException
{
    /// <summary>Creates the exception for task <paramref name="id"/>.</summary>
    public TaskCancelledException(string id) : base(id, $"task {id} was cancelled")
    {
    }
}

/// <summary>The task has not finished (<c>-PENDING state</c>): no timeout was given, or it passed first.</summary>
public sealed class TaskPendingException : TaskResultException
{
    /// <summary>Creates the exception for task <paramref name="id"/> in <paramref name="state"/>.</summary>
    public TaskPendingException(string id, TaskState state) : base(id, $"task {id} is still {state.ToString().ToLowerInvariant()}") => State = state;

    /// <summary>The state the task was in when the server answered.</summary>
    public TaskState State { get; }
}

/// <summary>The id is unknown (nil): it never existed, or the task's outcome expired (<c>RESULT-TTL</c>).</summary>
public sealed class TaskNotFoundException : TaskResultException
{
    /// <summary>Creates the exception for <paramref name="id"/>.</summary>
    public TaskNotFoundException(string id) : base(id, $"no task {id}: it never existed or its result expired")
    {
    }
}
