using System.Text;
using EventLoop.Tasks;
using EventLoop.Timers;

namespace EventLoop.Queueing;

/// <summary>A SUBMIT as the store takes it: parsed and validated by the command layer.</summary>
internal ref struct SubmitSpec
{
    public ReadOnlySpan<byte> Task;
    /// <summary>Empty: the <c>default</c> queue.</summary>
    public ReadOnlySpan<byte> Queue;
    public int Priority;
    /// <summary>Unix ms when it may run; 0 or past: now.</summary>
    public long RunAtMs;
    public int Retries;
    public int BackoffMs;
    /// <summary>0: the server's task timeout.</summary>
    public int TimeoutMs;
    public int ResultTtlSeconds;
    /// <summary>Empty: no idempotency key.</summary>
    public ReadOnlySpan<byte> Key;
    public byte[] Arguments;
    /// <summary>A schedule firing's id; null for a numbered task.</summary>
    public string? NamedId;
}

internal enum SubmitOutcome : byte
{
    Created,
    /// <summary>A task with the same KEY is not finished yet: that task is the answer.</summary>
    Existing,
    FullTasks,
    FullQueues,
}

/// <summary>The store's running totals, for INFO and metrics.</summary>
internal sealed class QueueTotals
{
    public long Submitted, Succeeded, Failed, Retried, Cancelled, Expired, ScheduleFirings, ScheduleFiringsSkipped;
}

/// <summary>
/// The task queue's state machine: tasks by id, named queues with their priority lists, the dead set, the
/// idempotency-key index, schedules, and every deadline through the reactor's <see cref="TimerHeap"/>.
/// Owned by the reactor thread: commands, worker outcomes and timers all reach it there, so it takes no
/// lock. It decides; the reactor carries out (hands ready tasks to workers, writes replies).
/// </summary>
/// <remarks>
/// Every state change goes through <see cref="Leave"/> (take the task out of what its state holds it in:
/// a ready list, the timer heap, the dead set, the counters) and <see cref="Enter"/> (put it into what the
/// new state needs), so a transition is one pair of calls and the counters cannot drift. Outcomes from a
/// worker carry the attempt they ran: one that no longer matches (the task timed out, was cancelled, or
/// was handed out again) changes nothing.
/// </remarks>
internal sealed partial class TaskStore
{
    /// <summary>Year 9999: later AT and DELAY values are refused.</summary>
    public const long LatestUnixMs = 253_402_300_799_999;
    public const int MaxBackoffMs = 3_600_000;
    private const int SubmitOptionsMaxName = 128;
    /// <summary>Distinct task names and option sets shared; past it a task keeps its own (memory stays bounded).</summary>
    private const int MaxInternedNames = 65_536;

    private readonly ServerOptions _options;
    private readonly TaskRegistry _registry;
    private readonly TimerHeap _timers;
    private readonly Action<string> _log;
    private readonly TaskIndex _byNumber;
    private readonly Dictionary<string, TaskRecord> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TaskRecord> _byKey = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TaskQueue> _queues = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TaskQueue>.AlternateLookup<ReadOnlySpan<char>> _queuesByChars;
    private readonly Dictionary<string, TaskDefinition> _external = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TaskDefinition>.AlternateLookup<ReadOnlySpan<char>> _externalByChars;
    private readonly Dictionary<(int Retries, int BackoffMs, int TimeoutMs, int ResultTtlSeconds), TaskOptions> _optionSets = [];
    // The last queue, task and options a SUBMIT named: a stream of SUBMITs mostly repeats them, and a byte compare
    // costs less than the dictionaries' hashing (docs/journal.md, "Names encoded once, lookups remembered").
    private TaskQueue? _lastQueue;
    private TaskDefinition? _lastDefinition;
    private TaskOptions? _lastOptions;
    private readonly Dictionary<string, Schedule> _schedules = new(StringComparer.Ordinal);
    private readonly Queue<TaskQueue> _runnableRound = new();
    private readonly TaskList _dead = new();
    private readonly int[] _byState = new int[TaskStates.Count];
    private long _lastNumber;

    public TaskStore(ServerOptions options, TaskRegistry registry, TimerHeap timers, QueueClock clock, Action<string> log)
    {
        _options = options;
        _registry = registry;
        _timers = timers;
        _log = log;
        Clock = clock;
        _queuesByChars = _queues.GetAlternateLookup<ReadOnlySpan<char>>();
        _externalByChars = _external.GetAlternateLookup<ReadOnlySpan<char>>();
        // Ids from a later start are larger than any earlier one's, without a journal to remember them:
        // the counter starts at the start time shifted past any realistic rate (2^20 per ms).
        _lastNumber = clock.UnixMs << 20;
        _byNumber = new TaskIndex(_lastNumber + 1);
    }

    public QueueClock Clock { get; }

    public QueueTotals Totals { get; } = new();

    /// <summary>Tasks held, finished ones not yet expired included (what --max-tasks bounds).</summary>
    public int Count => _byNumber.Count + _byName.Count;

    public int CountIn(TaskState state) => _byState[(int)state];

    public int DeadCount => _dead.Count;

    /// <summary>When the oldest ready task of any queue was submitted (Unix ms; 0: none is ready): INFO's and the dashboard's oldest queued age.</summary>
    public long OldestReadyCreatedMs()
    {
        long oldest = 0;
        foreach (TaskQueue queue in Queues)
        {
            long created = queue.OldestReadyCreatedMs();
            if (created != 0 && (oldest == 0 || created < oldest))
                oldest = created;
        }
        return oldest;
    }

    public IEnumerable<TaskQueue> Queues => _queues.Values.OrderBy(q => q.Name, StringComparer.Ordinal);

    public IEnumerable<Schedule> Schedules => _schedules.Values.OrderBy(s => s.Name, StringComparer.Ordinal);

    public int ScheduleCount => _schedules.Count;

    // ---------------------------------------------------------------- commands

    public SubmitOutcome Submit(in SubmitSpec spec, out TaskRecord? task)
    {
        task = null;
        string? key = null;
        if (!spec.Key.IsEmpty)
        {
            key = Encoding.UTF8.GetString(spec.Key);
            if (_byKey.TryGetValue(key, out TaskRecord? existing))
            {
                task = existing;
                return SubmitOutcome.Existing;
            }
        }
        if (Count >= _options.MaxTasks)
            return SubmitOutcome.FullTasks;
        TaskQueue? queue = GetOrCreateQueue(spec.Queue.IsEmpty ? "default"u8 : spec.Queue);
        if (queue is null)
            return SubmitOutcome.FullQueues;
        TaskDefinition definition = Definition(spec.Task);
        TaskOptions options = SharedOptions((spec.Retries, spec.BackoffMs,
            spec.TimeoutMs > 0 ? spec.TimeoutMs : (int)Math.Min(int.MaxValue, _options.TaskTimeout.TotalMilliseconds), spec.ResultTtlSeconds));
        long number = spec.NamedId is null ? ++_lastNumber : 0;
        long now = Clock.UnixMs;
        task = new TaskRecord(number, spec.NamedId, definition, queue, options, spec.Arguments)
        {
            Priority = (byte)spec.Priority,
            CreatedMs = now,
            RunAtMs = Math.Max(now, spec.RunAtMs),
            Key = key,
        };
        if (spec.NamedId is null)
            _byNumber.Add(task);
        else
            _byName.Add(spec.NamedId, task);
        if (key is not null)
            _byKey.Add(key, task);
        queue.Records++;
        Totals.Submitted++;
        Enter(task, task.RunAtMs > now ? TaskState.Scheduled : TaskState.Queued, submitted: true);
        return SubmitOutcome.Created;
    }

    /// <summary>The task with this id as the client wrote it, or null (never existed, or expired).</summary>
    public TaskRecord? Find(ReadOnlySpan<byte> id)
    {
        if (id.IsEmpty || id.Length > 600)
            return null;
        if (System.Buffers.Text.Utf8Parser.TryParse(id, out long number, out int consumed) && consumed == id.Length && id[0] != (byte)'0')
            return _byNumber.Find(number);
        if (_byName.Count == 0)
            return null;
        return _byName.GetValueOrDefault(Encoding.UTF8.GetString(id));
    }

    public TaskRecord? Find(string id) => Find(Encoding.UTF8.GetBytes(id));

    /// <summary>CANCEL: true when it will not run again; false when it had already finished.</summary>
    public bool Cancel(TaskRecord task)
    {
        if (task.State.IsFinished())
            return false;
        ITaskHolder? holder = task.State == TaskState.Running ? task.Holder : null;
        holder?.CancelRun();
        Finish(task, TaskState.Cancelled);
        if (holder is Lease lease)
            task.Holder = lease; // so the worker that held it hears -CANCELLED, not -STALE
        Totals.Cancelled++;
        return true;
    }

    public void Pause(ReadOnlySpan<byte> name, bool paused, out bool full)
    {
        TaskQueue? queue = GetOrCreateQueue(name);
        full = queue is null;
        if (queue is null || queue.Paused == paused)
            return;
        queue.Paused = paused;
        _journal?.QueuePaused(queue);
        if (!paused)
        {
            if (queue.HasInProcessReady)
                JoinRunnableRound(queue);
            if (queue.HasExternalReady)
                NoteExternalWork(queue);
        }
    }

    public TaskQueue? FindQueue(ReadOnlySpan<byte> name)
    {
        if (_lastQueue is { } last && name.SequenceEqual(last.NameUtf8))
            return last;
        Span<char> chars = stackalloc char[Math.Min(name.Length, 256)];
        if (name.Length > chars.Length)
            return null;
        int length = Encoding.Latin1.GetChars(name, chars);
        if (!_queuesByChars.TryGetValue(chars[..length], out TaskQueue? queue))
            return null;
        return _lastQueue = queue;
    }

    /// <summary>DEAD LIST: failed tasks, oldest failure first.</summary>
    public IEnumerable<TaskRecord> Dead(TaskQueue? queue)
    {
        for (TaskRecord? task = _dead.First; task is not null; task = task.Next)
        {
            if (queue is null || task.Queue == queue)
                yield return task;
        }
    }

    /// <summary>DEAD RETRY: queues a failed task again with its attempts reset; false when it is not in the dead set.</summary>
    public bool RetryDead(TaskRecord task)
    {
        if (task.State != TaskState.Failed)
            return false;
        Leave(task);
        task.Attempt = 0;
        task.Failures = 0;
        task.LeaseLosses = 0;
        task.FinishedMs = 0;
        task.Result = null;
        if (task.Key is not null && !_byKey.TryAdd(task.Key, task))
            task.Key = null; // a newer task took the key meanwhile: this one runs unkeyed
        Enter(task, TaskState.Queued);
        return true;
    }

    /// <summary>DEAD DROP: forgets a failed task; false when it is not in the dead set.</summary>
    public bool DropDead(TaskRecord task)
    {
        if (task.State != TaskState.Failed)
            return false;
        Remove(task);
        return true;
    }

    // ---------------------------------------------------------------- schedules

    /// <summary>SCHEDULE ADD: replaces a schedule of the same name; false when --max-schedules is reached.</summary>
    public bool AddSchedule(Schedule schedule)
    {
        if (_schedules.Remove(schedule.Name, out Schedule? replaced))
            _timers.Cancel(replaced);
        else if (_schedules.Count >= _options.MaxSchedules)
            return false;
        _schedules.Add(schedule.Name, schedule);
        schedule.ArmAfter(Clock.UnixMs, _timers, Clock);
        _journal?.SchedulePut(schedule);
        return true;
    }

    public bool RemoveSchedule(string name)
    {
        if (!_schedules.Remove(name, out Schedule? removed))
            return false;
        _timers.Cancel(removed);
        _journal?.ScheduleRemoved(name);
        return true;
    }

    /// <summary>
    /// A schedule's time came: submit its task under the id <c>name@fire-ms</c>, unless that id exists (a
    /// firing never runs twice), then arm the next firing after now. Firings missed while the reactor was
    /// busy (or, with a journal, the server was down) collapse into this one.
    /// </summary>
    internal void FireSchedule(Schedule schedule)
    {
        long fireMs = schedule.NextFireMs;
        string id = $"{schedule.Name}@{fireMs}";
        TaskTemplate template = schedule.Template;
        if (!_byName.ContainsKey(id))
        {
            var spec = new SubmitSpec
            {
                Task = Encoding.UTF8.GetBytes(template.Task),
                Queue = Encoding.UTF8.GetBytes(template.Queue),
                Priority = template.Priority,
                Retries = template.Retries,
                BackoffMs = template.BackoffMs,
                TimeoutMs = template.TimeoutMs,
                ResultTtlSeconds = template.ResultTtlSeconds,
                Arguments = template.Arguments,
                NamedId = id,
            };
            SubmitOutcome outcome = Submit(spec, out _);
            if (outcome == SubmitOutcome.Created)
                Totals.ScheduleFirings++;
            else
            {
                Totals.ScheduleFiringsSkipped++;
                _log($"schedule '{schedule.Name}' skipped its firing at {fireMs}: {outcome}");
            }
        }
        if (!schedule.ArmAfter(Math.Max(fireMs, Clock.UnixMs), _timers, Clock))
            _log($"schedule '{schedule.Name}' has no firing after {fireMs}: it stays listed but will not fire again");
        _journal?.SchedulePut(schedule); // its next firing moved: after a restart this one does not fire again
    }

    // ---------------------------------------------------------------- in-process workers

    /// <summary>The next task for the in-process workers: queues take turns, each gives its highest priority, oldest first.</summary>
    public TaskRecord? TakeRunnable()
    {
        while (_runnableRound.TryDequeue(out TaskQueue? queue))
        {
            TaskRecord? task = queue.Paused ? null : queue.PeekReady(external: false);
            if (task is null)
            {
                queue.InRunnableRound = false;
                continue;
            }
            _runnableRound.Enqueue(queue);
            return task;
        }
        return null;
    }

    public bool HasRunnable => _runnableRound.Count > 0;

    /// <summary>A ready task is handed to <paramref name="holder"/>: a new attempt starts. Returns the attempt.</summary>
    public int Start(TaskRecord task, ITaskHolder holder)
    {
        Leave(task);
        task.Attempt++;
        task.StartedMs = Clock.UnixMs;
        task.Holder = holder;
        Enter(task, TaskState.Running);
        return task.Attempt;
    }

    /// <summary>An attempt returned a result (RESP-encoded bulk); false when the attempt is stale.</summary>
    public bool Succeed(TaskRecord task, int attempt, byte[] result)
    {
        if (!IsCurrent(task, attempt))
            return false;
        int resultBytes = ResultBulk.Payload(result).Length;
        if (resultBytes > _options.MaxResultBytes)
            return Fail(task, attempt, $"result of {resultBytes} bytes exceeds max-result-bytes ({_options.MaxResultBytes})", retry: true);
        task.Result = result;
        Finish(task, TaskState.Succeeded);
        Totals.Succeeded++;
        return true;
    }

    /// <summary>An attempt failed: retried after backoff while retries remain (and <paramref name="retry"/>), else failed. False when stale.</summary>
    public bool Fail(TaskRecord task, int attempt, string error, bool retry)
    {
        if (!IsCurrent(task, attempt))
            return false;
        task.Failures++;
        task.Error = error;
        if (retry && task.Failures <= task.Retries)
        {
            Leave(task);
            task.RunAtMs = Clock.UnixMs + BackoffMs(task);
            Enter(task, TaskState.Retrying);
            Totals.Retried++;
        }
        else
        {
            Finish(task, TaskState.Failed);
            Totals.Failed++;
        }
        return true;
    }

    /// <summary>The running attempt is the task's current delivery.</summary>
    public static bool IsCurrent(TaskRecord task, int attempt) => task.State == TaskState.Running && task.Attempt == attempt;

    // ---------------------------------------------------------------- waiting

    public static void AddWaiter(TaskRecord task, ITaskWaiter waiter)
    {
        switch (task.Waiters)
        {
            case null: task.Waiters = waiter; break;
            case ITaskWaiter one: task.Waiters = new List<ITaskWaiter>(2) { one, waiter }; break;
            case List<ITaskWaiter> many: many.Add(waiter); break;
        }
    }

    public static void RemoveWaiter(TaskRecord task, ITaskWaiter waiter)
    {
        if (task.Waiters == waiter)
            task.Waiters = null;
        else if (task.Waiters is List<ITaskWaiter> many)
            many.Remove(waiter);
    }

    // ---------------------------------------------------------------- timers

    /// <summary>A task's deadline passed: its run time (scheduled, retrying), its timeout (running), or its expiry (finished).</summary>
    internal void OnTaskDue(TaskRecord task)
    {
        switch (task.State)
        {
            case TaskState.Scheduled or TaskState.Retrying:
                Leave(task);
                Enter(task, TaskState.Queued);
                break;
            case TaskState.Running:
                task.Holder?.CancelRun();
                if (task.Holder is Lease lease)
                    EndLease(lease);
                Fail(task, task.Attempt, $"timed out after {task.TimeoutMs} ms", retry: true);
                break;
            default:
                Remove(task);
                Totals.Expired++;
                break;
        }
    }

    // ---------------------------------------------------------------- transitions

    private void Finish(TaskRecord task, TaskState state)
    {
        Leave(task);
        task.FinishedMs = Clock.UnixMs;
        if (task.Key is not null && _byKey.TryGetValue(task.Key, out TaskRecord? keyed) && keyed == task)
            _byKey.Remove(task.Key);
        Enter(task, state);
        WakeWaiters(task);
    }

    /// <summary>Takes <paramref name="task"/> out of everything its current state holds it in.</summary>
    private void Leave(TaskRecord task)
    {
        _byState[(int)task.State]--;
        _timers.Cancel(task);
        switch (task.State)
        {
            case TaskState.Scheduled or TaskState.Retrying:
                task.Queue.Waiting--;
                break;
            case TaskState.Queued:
                task.Queue.ReadyList(task).Remove(task);
                task.Queue.Queued--;
                break;
            case TaskState.Running:
                task.Queue.Running--;
                if (task.Holder is Lease)
                    LeasedTasks--;
                task.Holder = null;
                break;
            case TaskState.Failed:
                _dead.Remove(task);
                break;
        }
    }

    /// <summary>
    /// Puts <paramref name="task"/> into what <paramref name="state"/> needs: a list, a deadline, the counters.
    /// <paramref name="first"/>: queued ahead of its priority's other ready tasks (a lost lease keeps its turn).
    /// The journal hears of every transition here, once the task's fields say what the new state means
    /// (<paramref name="submitted"/>: the task's first record, with everything it was submitted with).
    /// </summary>
    private void Enter(TaskRecord task, TaskState state, bool first = false, bool submitted = false)
    {
        task.State = state;
        _byState[(int)state]++;
        TaskQueue queue = task.Queue;
        switch (state)
        {
            case TaskState.Scheduled or TaskState.Retrying:
                queue.Waiting++;
                _timers.Schedule(task, Clock.TicksAt(task.RunAtMs));
                break;
            case TaskState.Queued:
                queue.Queued++;
                if (first)
                    queue.ReadyList(task).AddFirst(task);
                else
                    queue.ReadyList(task).AddLast(task);
                if (queue.Paused)
                    break;
                if (task.Handler is not null)
                    JoinRunnableRound(queue);
                else
                    NoteExternalWork(queue);
                break;
            case TaskState.Running:
                queue.Running++;
                if (task.Holder is Lease)
                    LeasedTasks++;
                if (task.TimeoutMs > 0)
                    _timers.Schedule(task, Clock.TicksAfter(task.TimeoutMs));
                break;
            case TaskState.Failed:
                _dead.AddLast(task);
                _timers.Schedule(task, Clock.TicksAfter((long)_options.DeadTaskTtl.TotalMilliseconds));
                break;
            default: // succeeded, cancelled: kept until the result expires
                _timers.Schedule(task, Clock.TicksAfter(task.ResultTtlSeconds * 1000L));
                break;
        }
        if (_journal is not null)
        {
            if (submitted)
                _journal.TaskPut(task);
            else
                _journal.TaskState(task);
        }
    }

    private void Remove(TaskRecord task)
    {
        Leave(task);
        if (task.NamedId is null)
            _byNumber.Remove(task);
        else
            _byName.Remove(task.NamedId);
        if (task.Key is not null && _byKey.TryGetValue(task.Key, out TaskRecord? keyed) && keyed == task)
            _byKey.Remove(task.Key);
        task.Queue.Records--;
        task.Result = null;
        _journal?.TaskRemoved(task);
    }

    private static void WakeWaiters(TaskRecord task)
    {
        object? waiters = task.Waiters;
        task.Waiters = null;
        switch (waiters)
        {
            case ITaskWaiter one:
                one.OnFinished(task);
                break;
            case List<ITaskWaiter> many:
                foreach (ITaskWaiter waiter in many)
                    waiter.OnFinished(task);
                break;
        }
    }

    private void JoinRunnableRound(TaskQueue queue)
    {
        if (queue.InRunnableRound)
            return;
        queue.InRunnableRound = true;
        _runnableRound.Enqueue(queue);
    }

    /// <summary>BACKOFF × 2^(failures−1), jittered uniformly within ½–1½×, capped at an hour.</summary>
    private static long BackoffMs(TaskRecord task)
    {
        double nominal = Math.Min(MaxBackoffMs, task.BackoffMs * Math.Pow(2, Math.Min(30, task.Failures - 1)));
        return (long)Math.Min(MaxBackoffMs, nominal * (0.5 + Random.Shared.NextDouble()));
    }

    /// <summary>
    /// The queue of that name, created if new; null when --max-queues queues hold something. At the limit, queues that
    /// hold nothing (a name a FETCH tried, a queue whose tasks all expired) are retired first, so they do not use it up
    /// for good; one scan of the queues, only when the limit is reached.
    /// </summary>
    public TaskQueue? GetOrCreateQueue(ReadOnlySpan<byte> name)
    {
        if (FindQueue(name) is { } existing)
            return existing;
        if (_queues.Count >= _options.MaxQueues)
        {
            foreach (TaskQueue idle in _queues.Values)
            {
                if (idle.IsIdle)
                    _queues.Remove(idle.Name); // removing while enumerating a Dictionary is allowed
            }
            _lastQueue = null; // so it never names a queue that is no longer in _queues
            if (_queues.Count >= _options.MaxQueues)
                return null;
        }
        return _lastQueue = CreateQueue(name);
    }

    /// <summary>The registered task of that name, or the one shared definition of an external task's name.</summary>
    private TaskDefinition Definition(ReadOnlySpan<byte> name)
    {
        // An exact match of the last name is the definition either lookup would give: registration ended at start.
        if (_lastDefinition is { } last && name.SequenceEqual(last.NameUtf8))
            return last;
        if (!_registry.TryGet(name, out TaskDefinition? definition))
            definition = ExternalDefinition(name);
        return _lastDefinition = definition!;
    }

    /// <summary>One definition per distinct external task name, shared by every task of that name.</summary>
    private TaskDefinition ExternalDefinition(ReadOnlySpan<byte> name)
    {
        Span<char> chars = stackalloc char[SubmitOptionsMaxName];
        int length = Encoding.Latin1.GetChars(name, chars);
        if (_externalByChars.TryGetValue(chars[..length], out TaskDefinition? known))
            return known;
        var added = TaskDefinition.External(new string(chars[..length]));
        if (_external.Count < MaxInternedNames)
            _external.Add(added.Name, added);
        return added;
    }

    /// <summary>One options object per distinct combination: most tasks share the defaults.</summary>
    private TaskOptions SharedOptions((int Retries, int BackoffMs, int TimeoutMs, int ResultTtlSeconds) values)
    {
        if (_lastOptions is { } last && (last.Retries, last.BackoffMs, last.TimeoutMs, last.ResultTtlSeconds) == values)
            return last;
        if (!_optionSets.TryGetValue(values, out TaskOptions? options))
        {
            options = new TaskOptions(values.Retries, values.BackoffMs, values.TimeoutMs, values.ResultTtlSeconds);
            if (_optionSets.Count < MaxInternedNames)
                _optionSets.Add(values, options);
        }
        return _lastOptions = options;
    }
}
