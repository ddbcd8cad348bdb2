using System.Diagnostics;

namespace EventLoop.Reactor;

/// <summary>
/// Callbacks due at a point in time, run by the reactor between waits; the nearest one bounds the wait's
/// timeout. Owned by the reactor thread (idle timeouts, the shutdown deadline, the periodic housekeeping,
/// and later scheduled tasks).
/// </summary>
internal sealed class TimerQueue
{
    private readonly PriorityQueue<Action, long> _due = new();

    /// <summary>Runs <paramref name="callback"/> on the reactor once <paramref name="delay"/> has passed.</summary>
    public void Schedule(TimeSpan delay, Action callback) =>
        _due.Enqueue(callback, Stopwatch.GetTimestamp() + (long)(delay.TotalSeconds * Stopwatch.Frequency));

    /// <summary>Milliseconds until the nearest callback is due (0 if overdue), or -1 when none is scheduled.</summary>
    public int MillisecondsUntilNext(long now)
    {
        if (!_due.TryPeek(out _, out long dueAt))
            return -1;
        long remaining = dueAt - now;
        return remaining <= 0 ? 0 : (int)Math.Min(int.MaxValue, (remaining * 1000 + Stopwatch.Frequency - 1) / Stopwatch.Frequency);
    }

    /// <summary>Runs every callback due at <paramref name="now"/>.</summary>
    public void RunDue(long now)
    {
        while (_due.TryPeek(out _, out long dueAt) && dueAt <= now)
            _due.Dequeue()();
    }
}
