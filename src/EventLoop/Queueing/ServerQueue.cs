using System.Text;
using EventLoop.Commands;
using EventLoop.Reactor;

namespace EventLoop.Queueing;

/// <summary>Options of a task submitted from C#; every one has SUBMIT's default.</summary>
public sealed record TaskSubmitOptions
{
    /// <summary>The queue (default <c>default</c>).</summary>
    public string? Queue { get; init; }

    /// <summary>0..9, 9 runs first. Default 0.</summary>
    public int Priority { get; init; }

    /// <summary>Run no earlier than this long from now.</summary>
    public TimeSpan? Delay { get; init; }

    /// <summary>Run no earlier than this time (exclusive with <see cref="Delay"/>).</summary>
    public DateTimeOffset? At { get; init; }

    /// <summary>Failures retried before the task fails. Default 0.</summary>
    public int Retries { get; init; }

    /// <summary>First retry's delay, doubled each time, jittered ½–1½×. Default 1 s.</summary>
    public TimeSpan Backoff { get; init; } = TimeSpan.FromMilliseconds(SubmitOptions.DefaultBackoffMs);

    /// <summary>A run longer than this fails the attempt; null: the server's task timeout.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>While a task with this key is not finished, submitting again returns its id.</summary>
    public string? Key { get; init; }

    /// <summary>How long the outcome is kept after finishing. Default 1 h.</summary>
    public TimeSpan ResultTtl { get; init; } = TimeSpan.FromSeconds(SubmitOptions.DefaultResultTtlSeconds);
}

/// <summary>A task's state as STATUS reports it; times are null where not yet.</summary>
public sealed record TaskStatusInfo(
    string Id, string Task, string Queue, TaskState State, int Attempt, int Priority,
    DateTimeOffset CreatedAt, DateTimeOffset RunAt, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, string? Error);

/// <summary>The task failed for good (no retries left); <see cref="Exception.Message"/> is its last error.</summary>
public sealed class TaskFailedException(string id, string error) : Exception(error)
{
    /// <summary>The task's id.</summary>
    public string Id { get; } = id;
}

/// <summary>The task was cancelled before it finished.</summary>
public sealed class TaskCancelledException(string id) : Exception($"task {id} was cancelled")
{
    /// <summary>The task's id.</summary>
    public string Id { get; } = id;
}

/// <summary>The server keeps no task with that id: it never existed, or its outcome expired.</summary>
public sealed class TaskNotFoundException(string id) : Exception($"no task {id}")
{
    /// <summary>The id asked for.</summary>
    public string Id { get; } = id;
}

/// <summary>The queue is at a limit (max-tasks, max-queues): nothing was submitted.</summary>
public sealed class QueueFullException(string message) : Exception(message);

/// <summary>
/// The task queue from inside the process that embeds the server: submit, look up, await and cancel
/// tasks without a socket. Safe from any thread: each call is posted to the reactor thread, which owns
/// the queue, through the completion queue, and completes its task from there (continuations run
/// asynchronously, never on the reactor).
/// </summary>
public sealed class ServerQueue
{
    private readonly Func<ReactorLoop> _reactor;

    internal ServerQueue(Func<ReactorLoop> reactor) => _reactor = reactor;

    /// <summary>Submits <paramref name="task"/> with <paramref name="arguments"/>; returns its id.</summary>
    /// <exception cref="QueueFullException">The queue is at a limit.</exception>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public Task<string> SubmitAsync(string task, IReadOnlyList<ReadOnlyMemory<byte>> arguments, TaskSubmitOptions? options = null)
    {
        options ??= new TaskSubmitOptions();
        Validate(task, options);
        byte[] packed = PackedArguments.Pack(arguments);
        return OnReactor<string>((reactor, done) =>
        {
            TaskStore store = reactor.Store;
            var spec = new SubmitSpec
            {
                Task = Encoding.UTF8.GetBytes(task),
                Queue = options.Queue is null ? default : Encoding.UTF8.GetBytes(options.Queue),
                Priority = options.Priority,
                RunAtMs = options.At?.ToUnixTimeMilliseconds() ?? (options.Delay is { } delay ? store.Clock.UnixMs + (long)delay.TotalMilliseconds : 0),
                Retries = options.Retries,
                BackoffMs = (int)options.Backoff.TotalMilliseconds,
                TimeoutMs = options.Timeout is { } timeout ? (int)timeout.TotalMilliseconds : 0,
                ResultTtlSeconds = (int)options.ResultTtl.TotalSeconds,
                Key = options.Key is null ? default : Encoding.UTF8.GetBytes(options.Key),
                Arguments = packed,
            };
            switch (store.Submit(spec, out TaskRecord? record))
            {
                case SubmitOutcome.FullTasks: done.SetException(new QueueFullException($"max-tasks ({reactor.Options.MaxTasks}) reached")); break;
                case SubmitOutcome.FullQueues: done.SetException(new QueueFullException($"max-queues ({reactor.Options.MaxQueues}) reached")); break;
                default: done.SetResult(record!.IdText); break;
            }
        });
    }

    /// <summary>Submits <paramref name="task"/> with UTF-8 string arguments; returns its id.</summary>
    public Task<string> SubmitAsync(string task, params string[] arguments) =>
        SubmitAsync(task, [.. arguments.Select(a => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(a))]);

    /// <summary>The task's state, or null when the server keeps no task with that id.</summary>
    public Task<TaskStatusInfo?> StatusAsync(string id) =>
        OnReactor<TaskStatusInfo?>((reactor, done) => done.SetResult(reactor.Store.Find(id) is { } task ? Describe(task) : null));

    /// <summary>
    /// Waits until the task finishes (at most <paramref name="timeout"/>; null: no limit) and returns its result.
    /// </summary>
    /// <exception cref="TaskFailedException">It failed for good.</exception>
    /// <exception cref="TaskCancelledException">It was cancelled.</exception>
    /// <exception cref="TaskNotFoundException">No task has that id.</exception>
    /// <exception cref="TimeoutException">It had not finished within <paramref name="timeout"/>.</exception>
    public Task<byte[]> ResultAsync(string id, TimeSpan? timeout = null) =>
        OnReactor<byte[]>((reactor, done) =>
        {
            TaskRecord? task = reactor.Store.Find(id);
            if (task is null)
                done.SetException(new TaskNotFoundException(id));
            else if (task.State.IsFinished())
                Settle(task, done);
            else
                new ResultWaiter(reactor.Timers, task, done).ExpireAfter(timeout, reactor.Store.Clock);
        });

    /// <summary>Cancels the task: true when it will not run again, false when it had already finished.</summary>
    /// <exception cref="TaskNotFoundException">No task has that id.</exception>
    public Task<bool> CancelAsync(string id) =>
        OnReactor<bool>((reactor, done) =>
        {
            if (reactor.Store.Find(id) is { } task)
                done.SetResult(reactor.Store.Cancel(task));
            else
                done.SetException(new TaskNotFoundException(id));
        });

    private Task<T> OnReactor<T>(Action<ReactorLoop, TaskCompletionSource<T>> action)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        ReactorLoop reactor = _reactor();
        if (reactor.Completion.IsCompleted)
            throw new InvalidOperationException("the server has stopped");
        // This API reads and changes the in-memory store; with PostgreSQL it would do so silently beside the real queue.
        if (reactor.Options.Store is not null)
            throw new NotSupportedException("the embedding queue API is not supported with Store (PostgreSQL) yet: use a client connection");
        reactor.Post(() =>
        {
            try
            {
                action(reactor, done);
            }
            catch (Exception failure)
            {
                done.TrySetException(failure);
            }
        });
        return done.Task;
    }

    private static void Validate(string task, TaskSubmitOptions options)
    {
        if (!SubmitOptions.IsName(Encoding.UTF8.GetBytes(task)))
            throw new ArgumentException("task names are 1 to 128 printable characters without spaces", nameof(task));
        if (options.Priority is < 0 or >= TaskQueue.Priorities)
            throw new ArgumentException("Priority must be 0..9", nameof(options));
        if (options.Retries is < 0 or > SubmitOptions.MaxRetries)
            throw new ArgumentException($"Retries must be 0..{SubmitOptions.MaxRetries}", nameof(options));
        if (options.Backoff <= TimeSpan.Zero || options.Backoff.TotalMilliseconds > TaskStore.MaxBackoffMs)
            throw new ArgumentException("Backoff must be positive and at most an hour", nameof(options));
        if (options.Delay < TimeSpan.Zero || options.Timeout < TimeSpan.Zero || options.ResultTtl < TimeSpan.Zero)
            throw new ArgumentException("Delay, Timeout and ResultTtl must not be negative", nameof(options));
        if (options.Delay is not null && options.At is not null)
            throw new ArgumentException("Delay and At cannot be combined", nameof(options));
        if (options.Queue is { } queue && !SubmitOptions.IsName(Encoding.UTF8.GetBytes(queue)))
            throw new ArgumentException("queue names are 1 to 128 printable characters without spaces", nameof(options));
    }

    private static TaskStatusInfo Describe(TaskRecord task)
    {
        static DateTimeOffset? Time(long ms) => ms == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(ms);
        return new TaskStatusInfo(task.IdText, task.Name, task.Queue.Name, task.State, task.Attempt, task.Priority,
            DateTimeOffset.FromUnixTimeMilliseconds(task.CreatedMs), DateTimeOffset.FromUnixTimeMilliseconds(task.RunAtMs),
            Time(task.StartedMs), Time(task.FinishedMs), string.IsNullOrEmpty(task.Error) ? null : task.Error);
    }

    private static void Settle(TaskRecord task, TaskCompletionSource<byte[]> done)
    {
        switch (task.State)
        {
            case TaskState.Succeeded:
                done.TrySetResult(ResultBulk.Payload(task.Result!).ToArray());
                break;
            case TaskState.Failed:
                done.TrySetException(new TaskFailedException(task.IdText, task.Error ?? ""));
                break;
            default:
                done.TrySetException(new TaskCancelledException(task.IdText));
                break;
        }
    }

    /// <summary>An application's <see cref="ResultAsync"/> waiting on the reactor for a task to finish.</summary>
    private sealed class ResultWaiter : Timers.TimerEntry, ITaskWaiter
    {
        private readonly Timers.TimerHeap _timers;
        private readonly TaskRecord _task;
        private readonly TaskCompletionSource<byte[]> _done;

        public ResultWaiter(Timers.TimerHeap timers, TaskRecord task, TaskCompletionSource<byte[]> done)
        {
            _timers = timers;
            _task = task;
            _done = done;
            TaskStore.AddWaiter(task, this);
        }

        public void ExpireAfter(TimeSpan? timeout, QueueClock clock)
        {
            if (timeout is { } limit)
                _timers.Schedule(this, clock.TicksAfter((long)limit.TotalMilliseconds));
        }

        public void OnFinished(TaskRecord task)
        {
            _timers.Cancel(this);
            Settle(task, _done);
        }

        internal override void OnDue(long now)
        {
            TaskStore.RemoveWaiter(_task, this);
            _done.TrySetException(new TimeoutException($"task {_task.IdText} is still {Encoding.ASCII.GetString(_task.State.Word())}"));
        }
    }
}
