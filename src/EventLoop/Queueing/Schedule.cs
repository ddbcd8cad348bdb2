using Cronos;
using EventLoop.Timers;

namespace EventLoop.Queueing;

/// <summary>What every firing of a schedule submits: the task and its SUBMIT options.</summary>
internal sealed record TaskTemplate(string Task, string Queue, int Priority, int Retries, int BackoffMs, int TimeoutMs, int ResultTtlSeconds, byte[] Arguments);

/// <summary>
/// A periodic task owned by the server (not by a client process, so there is no second "beat" to run it
/// twice). Fire times depend only on the spec: <c>EVERY ms</c> fires at the multiples of ms since the Unix
/// epoch, <c>CRON</c> at the expression's occurrences in its time zone. Each firing submits a task with
/// the id <c>name@fire-ms</c>, which the store refuses to create twice. Reactor-owned; its next firing is
/// its timer entry.
/// </summary>
internal sealed class Schedule : TimerEntry
{
    private readonly TaskStore _store;
    private readonly long _everyMs;
    private readonly CronExpression? _cron;
    private readonly TimeZoneInfo _zone;

    private Schedule(TaskStore store, string name, string spec, long everyMs, CronExpression? cron, TimeZoneInfo zone, TaskTemplate template)
    {
        _store = store;
        Name = name;
        Spec = spec;
        _everyMs = everyMs;
        _cron = cron;
        _zone = zone;
        Template = template;
    }

    public string Name { get; }

    /// <summary>As SCHEDULE LIST shows it: <c>EVERY 100</c>, <c>CRON 0 3 * * *</c>, <c>CRON 0 3 * * * TZ Europe/Paris</c>.</summary>
    public string Spec { get; }

    public TaskTemplate Template { get; }

    /// <summary>Unix ms of the next firing.</summary>
    public long NextFireMs { get; private set; }

    public static Schedule Every(TaskStore store, string name, long everyMs, TaskTemplate template) =>
        new(store, name, $"EVERY {everyMs}", everyMs, null, TimeZoneInfo.Utc, template);

    /// <summary>A cron schedule; throws <see cref="CronFormatException"/> for a malformed expression.</summary>
    public static Schedule Cron(TaskStore store, string name, string expression, TimeZoneInfo zone, string? zoneName, TaskTemplate template)
    {
        int fields = expression.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        CronExpression cron = CronExpression.Parse(expression, fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
        string spec = zoneName is null ? $"CRON {expression}" : $"CRON {expression} TZ {zoneName}";
        return new Schedule(store, name, spec, 0, cron, zone, template);
    }

    /// <summary>The first fire time strictly after <paramref name="afterMs"/>, or null when there is none (a cron that never fires).</summary>
    public long? NextAfter(long afterMs)
    {
        if (_cron is null)
            return (afterMs / _everyMs + 1) * _everyMs;
        DateTime from = DateTime.UnixEpoch.AddMilliseconds(afterMs);
        DateTime? next = _cron.GetNextOccurrence(from, _zone, inclusive: false);
        return next is { } at ? new DateTimeOffset(at, TimeSpan.Zero).ToUnixTimeMilliseconds() : null;
    }

    /// <summary>Arms the timer for the first firing after <paramref name="afterMs"/>; false when there is none.</summary>
    public bool ArmAfter(long afterMs, TimerHeap timers, QueueClock clock)
    {
        if (NextAfter(afterMs) is not { } next)
            return false;
        NextFireMs = next;
        timers.Schedule(this, clock.TicksAt(next));
        return true;
    }

    /// <summary>Recovery: the next firing the journal recorded (0: none recorded, the first after now).</summary>
    internal void Restored(long nextFireMs) => NextFireMs = nextFireMs;

    /// <summary>Recovery: arms the recorded firing (at once when it passed while the server was down: it runs once).</summary>
    internal void ArmRestored(TimerHeap timers, QueueClock clock)
    {
        if (NextFireMs > 0)
            timers.Schedule(this, clock.TicksAt(NextFireMs));
        else
            ArmAfter(clock.UnixMs, timers, clock);
    }

    internal override void OnDue(long now) => _store.FireSchedule(this);
}
