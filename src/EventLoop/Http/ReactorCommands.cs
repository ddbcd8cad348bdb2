using System.Text;
using EventLoop.Queueing;
using EventLoop.Reactor;

namespace EventLoop.Http;

/// <summary>
/// What the dashboard may change, each posted to the reactor thread (which owns the queue) and answered
/// from there through a task: the HTTP threads never touch reactor-owned state.
/// </summary>
internal sealed class ReactorCommands(ReactorLoop reactor)
{
    /// <summary>QUEUE PAUSE / QUEUE RESUME: false when max-queues stops a new queue from being made.</summary>
    public Task<bool> PauseAsync(string queue, bool paused) =>
        OnReactor(store =>
        {
            store.Pause(Encoding.UTF8.GetBytes(queue), paused, out bool full);
            return !full;
        });

    /// <summary>DEAD RETRY: false when the task is not in the dead set.</summary>
    public Task<bool> RetryDeadAsync(string id) =>
        OnReactor(store => store.Find(id) is { } task && store.RetryDead(task));

    /// <summary>DEAD DROP: false when the task is not in the dead set.</summary>
    public Task<bool> DropDeadAsync(string id) =>
        OnReactor(store => store.Find(id) is { } task && store.DropDead(task));

    private Task<bool> OnReactor(Func<TaskStore, bool> change)
    {
        var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (reactor.Completion.IsCompleted)
        {
            done.SetException(new InvalidOperationException("the server has stopped"));
            return done.Task;
        }
        reactor.Post(() =>
        {
            try
            {
                done.TrySetResult(change(reactor.Store));
            }
            catch (Exception failure)
            {
                done.TrySetException(failure);
            }
        });
        return done.Task;
    }
}
