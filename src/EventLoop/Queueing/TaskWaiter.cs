using EventLoop.Timers;

namespace EventLoop.Queueing;

/// <summary>
/// Something waiting for tasks to finish: a parked <c>RESULT … TIMEOUT</c> or <c>WAIT</c> on a connection,
/// or an embedding application's <c>ResultAsync</c>. Its deadline is its own timer entry. Reactor-owned.
/// </summary>
internal abstract class TaskWaiter : TimerEntry
{
    /// <summary><paramref name="task"/> finished (succeeded, failed or cancelled); it has already let go of this waiter.</summary>
    public abstract void OnFinished(TaskRecord task);
}
