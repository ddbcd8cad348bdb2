using System.Text;
using EventLoop.Reactor;
using EventLoop.Stores;

namespace EventLoop.Http;

/// <summary>
/// What the dashboard may change, each posted to the reactor thread and handed there to the queue's store
/// (<see cref="IQueueStore.Change"/>), which answers through a task: the HTTP threads never touch reactor-owned state,
/// and on PostgreSQL the change is the same statement QUEUE PAUSE or DEAD RETRY runs.
/// </summary>
internal sealed class ReactorCommands(ReactorLoop reactor, IQueueStore queue)
{
    /// <summary>QUEUE PAUSE / QUEUE RESUME: false when max-queues stops a new queue from being made.</summary>
    /// <exception cref="ArgumentException">A name no queue can have (QUEUE PAUSE's rule).</exception>
    public Task<bool> PauseAsync(string name, bool paused) =>
        Commands.SubmitOptions.IsName(Encoding.UTF8.GetBytes(name))
            ? OnReactor(paused ? QueueChange.Pause : QueueChange.Resume, name)
            : throw new ArgumentException(Commands.SubmitOptions.BadQueueName["ERR ".Length..]);

    /// <summary>DEAD RETRY: false when the task is not in the dead set.</summary>
    public Task<bool> RetryDeadAsync(string id) => OnReactor(QueueChange.RetryDead, id);

    /// <summary>DEAD DROP: false when the task is not in the dead set.</summary>
    public Task<bool> DropDeadAsync(string id) => OnReactor(QueueChange.DropDead, id);

    private Task<bool> OnReactor(QueueChange change, string target)
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
                queue.Change(change, target, done);
            }
            catch (Exception failure)
            {
                done.TrySetException(failure);
            }
        });
        return done.Task;
    }
}
