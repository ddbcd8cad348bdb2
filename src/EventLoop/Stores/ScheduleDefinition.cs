using EventLoop.Queueing;

namespace EventLoop.Stores;

/// <summary>
/// A schedule as SCHEDULE ADD spelled it: EVERY <see cref="EveryMs"/>, or CRON <see cref="Cron"/> in
/// <see cref="ZoneName"/> (null: UTC). What a store keeps to rebuild the <see cref="Schedule"/> that computes its fire
/// times, in memory or in a database row read by another node.
/// </summary>
internal sealed record ScheduleDefinition(string Name, long EveryMs, string? Cron, string? ZoneName, TaskTemplate Template)
{
    /// <summary>
    /// The schedule computing this definition's fire times; throws <see cref="Cronos.CronFormatException"/> for a
    /// malformed expression and <see cref="TimeZoneNotFoundException"/> for a zone this machine does not know.
    /// </summary>
    public Schedule Build(TaskStore store) => Cron is null
        ? Schedule.Every(store, Name, EveryMs, Template)
        : Schedule.Cron(store, Name, Cron, ZoneName is null ? TimeZoneInfo.Utc : TimeZoneInfo.FindSystemTimeZoneById(ZoneName), ZoneName, Template);
}
