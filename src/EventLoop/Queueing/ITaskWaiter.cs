namespace EventLoop.Queueing;

/// <summary>
/// Something waiting for a task to finish: a parked <c>RESULT … TIMEOUT</c> or <c>WAIT</c> on a connection,
/// or an embedding application's <c>ResultAsync</c>. Reactor-owned.
/// </summary>
internal interface ITaskWaiter
{
    /// <summary><paramref name="task"/> finished (succeeded, failed or cancelled); it has already let go of this waiter.</summary>
    void OnFinished(TaskRecord task);
}
