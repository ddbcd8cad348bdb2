using System.Text;
using EventLoop.Journal;
using EventLoop.Tasks;

namespace EventLoop.Queueing;

/// <summary>A task's state fields as a journal record carries them.</summary>
internal struct RestoredState
{
    public TaskState State;
    public int Attempt, Failures, LeaseLosses;
    public long RunAtMs, StartedMs, FinishedMs;
    public string? Error;
    public byte[]? Result;
}

/// <summary>
/// The store's side of the journal: the seam the store reports through (<see cref="Journal"/>), the
/// restore calls the replayer makes at start (before the reactor serves anyone), and the walk a rewrite
/// snapshots the live state with.
/// </summary>
internal sealed partial class TaskStore
{
    private readonly List<TaskRecord> _restored = [];
    private readonly List<Schedule> _restoredSchedules = [];
    private ITaskJournal? _journal;

    /// <summary>Where state changes are reported; null with --appendonly no. Set once recovery is done.</summary>
    public ITaskJournal? Journal { get => _journal; set => _journal = value; }

    /// <summary>A task as a TaskPut record gives it; replaces an earlier one with the same id.</summary>
    internal void RestorePut(long number, string? namedId, ReadOnlySpan<byte> taskName, ReadOnlySpan<byte> queueName, byte priority,
        int retries, int backoffMs, int timeoutMs, int resultTtlSeconds, string? key, long createdMs, byte[] arguments, in RestoredState state)
    {
        RestoreRemove(number, namedId);
        TaskQueue queue = FindQueue(queueName) ?? CreateQueue(queueName);
        if (!_registry.TryGet(taskName, out TaskDefinition? definition))
            definition = ExternalDefinition(taskName);
        TaskOptions options = SharedOptions((retries, backoffMs, timeoutMs, resultTtlSeconds));
        var task = new TaskRecord(number, namedId, definition!, queue, options, arguments)
        {
            Priority = priority,
            CreatedMs = createdMs,
            Key = key,
        };
        Apply(task, state);
        if (namedId is null)
            _byNumber.AddOlder(task);
        else
            _byName.Add(namedId, task);
        queue.Records++;
        _restored.Add(task);
    }

    /// <summary>A TaskState record; false when the task is not known (a rewrite's live record for a task its snapshot writes later).</summary>
    internal bool RestoreState(long number, string? namedId, in RestoredState state)
    {
        TaskRecord? task = namedId is null ? _byNumber.Find(number) : _byName.GetValueOrDefault(namedId);
        if (task is null)
            return false;
        Apply(task, state);
        return true;
    }

    internal void RestoreRemove(long number, string? namedId)
    {
        TaskRecord? task = namedId is null ? _byNumber.Find(number) : _byName.GetValueOrDefault(namedId);
        if (task is null)
            return;
        if (namedId is null)
            _byNumber.Remove(task);
        else
            _byName.Remove(namedId);
        task.Queue.Records--;
    }

    internal void RestoreSchedule(string name, string spec, TaskTemplate template, long nextFireMs)
    {
        Schedule schedule;
        if (spec.StartsWith("EVERY ", StringComparison.Ordinal))
        {
            schedule = Schedule.Every(this, name, long.Parse(spec.AsSpan(6), System.Globalization.CultureInfo.InvariantCulture), template);
        }
        else
        {
            string expression = spec[5..];
            string? zoneName = null;
            int tz = expression.IndexOf(" TZ ", StringComparison.Ordinal);
            if (tz >= 0)
            {
                zoneName = expression[(tz + 4)..];
                expression = expression[..tz];
            }
            TimeZoneInfo zone = zoneName is null ? TimeZoneInfo.Utc : TimeZoneInfo.FindSystemTimeZoneById(zoneName);
            schedule = Schedule.Cron(this, name, expression, zone, zoneName, template);
        }
        schedule.Restored(nextFireMs);
        _schedules[name] = schedule;
    }

    internal void RestoreScheduleRemoved(string name) => _schedules.Remove(name);

    internal void RestorePause(ReadOnlySpan<byte> queueName, bool paused) => (FindQueue(queueName) ?? CreateQueue(queueName)).Paused = paused;

    /// <summary>
    /// Recovery is done: every restored task enters its state (a task that was running goes back to its
    /// queue, at the head, as a new attempt: at-least-once), finished ones expire when they would have,
    /// schedules are armed (a firing missed while the server was down runs once, now), ids continue past
    /// the highest recovered one.
    /// </summary>
    internal void FinishRestore()
    {
        long highest = 0;
        List<TaskRecord> failed = [];
        foreach (TaskRecord task in _restored)
        {
            TaskRecord? indexed = task.NamedId is null ? _byNumber.Find(task.Number) : _byName.GetValueOrDefault(task.NamedId);
            if (indexed != task)
                continue; // replaced by a later TaskPut, or removed
            highest = Math.Max(highest, task.Number);
            TaskState state = task.State;
            if (state == TaskState.Failed)
            {
                failed.Add(task);
                continue;
            }
            if (state == TaskState.Running)
            {
                task.Error = "interrupted: the server stopped while it ran";
                Enter(task, TaskState.Queued, first: true);
            }
            else
            {
                Enter(task, state);
            }
            if (state.IsFinished())
                _timers.Schedule(task, Clock.TicksAt(task.FinishedMs + task.ResultTtlSeconds * 1000L));
            else if (task.Key is not null)
                _byKey.TryAdd(task.Key, task);
        }
        failed.Sort((a, b) => a.FinishedMs.CompareTo(b.FinishedMs));
        foreach (TaskRecord task in failed)
        {
            Enter(task, TaskState.Failed);
            _timers.Schedule(task, Clock.TicksAt(task.FinishedMs + (long)_options.DeadTaskTtl.TotalMilliseconds));
        }
        _restored.Clear();
        _restored.TrimExcess();
        foreach (Schedule schedule in _schedules.Values)
            schedule.ArmRestored(_timers, Clock);
        if (highest > _lastNumber)
        {
            _lastNumber = highest;
            _byNumber.Rebase(highest + 1);
        }
    }

    private static void Apply(TaskRecord task, in RestoredState state)
    {
        task.State = state.State;
        task.Attempt = state.Attempt;
        task.Failures = state.Failures;
        task.LeaseLosses = state.LeaseLosses;
        task.RunAtMs = state.RunAtMs;
        task.StartedMs = state.StartedMs;
        task.FinishedMs = state.FinishedMs;
        task.Error = state.Error;
        task.Result = state.Result;
    }

    private TaskQueue CreateQueue(ReadOnlySpan<byte> name)
    {
        var queue = new TaskQueue(Encoding.Latin1.GetString(name), this);
        _queues.Add(queue.Name, queue);
        return queue;
    }

    // ---------------------------------------------------------------- the rewrite's walk

    /// <summary>
    /// Every task, lazily, safe against changes between steps: pages are read again at each step, so a
    /// task removed meanwhile is not seen and one added meanwhile may or may not be (its own TaskPut is in
    /// the live records either way).
    /// </summary>
    internal IEnumerable<TaskRecord> WalkTasks()
    {
        foreach (long page in _byNumber.OlderPages())
        {
            for (int slot = 0; slot < 4096; slot++)
            {
                if (_byNumber.OlderSlots(page) is not { } slots)
                    break;
                if (slots[slot] is { } task)
                    yield return task;
            }
        }
        for (int page = 0; page < _byNumber.PageCount; page++)
        {
            for (int slot = 0; slot < 4096; slot++)
            {
                if (_byNumber.Page(page) is not { } slots)
                    break;
                if (slots[slot] is { } task)
                    yield return task;
            }
        }
        foreach (TaskRecord named in _byName.Values.ToArray())
        {
            if (named.NamedId is { } id && _byName.GetValueOrDefault(id) == named)
                yield return named;
        }
    }
}
