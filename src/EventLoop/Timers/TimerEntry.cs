namespace EventLoop.Timers;

/// <summary>
/// One deadline in the reactor's <see cref="TimerHeap"/>: a delayed task, a backoff, a task timeout, a
/// result's expiry, a parked request's deadline, a schedule's next firing, a housekeeping tick. The
/// object that owns the deadline derives from this, so arming and cancelling allocate nothing and an
/// entry is in the heap at most once. Reactor-owned, like the heap.
/// </summary>
internal abstract class TimerEntry
{
    /// <summary>Stopwatch ticks when it is due; meaningful while <see cref="IsArmed"/>.</summary>
    internal long DueAt;

    /// <summary>Position in the heap's array, or -1 when not armed.</summary>
    internal int HeapIndex = -1;

    public bool IsArmed => HeapIndex >= 0;

    /// <summary>Runs on the reactor once the deadline passes; the entry is already out of the heap and may re-arm itself.</summary>
    internal abstract void OnDue(long now);
}

/// <summary>A deadline that runs a delegate: for the reactor's own periodic paths, not per request.</summary>
internal sealed class CallbackTimer(Action callback) : TimerEntry
{
    internal override void OnDue(long now) => callback();
}
