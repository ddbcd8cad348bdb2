using System.Buffers;

namespace EventLoop.Tasks;

/// <summary>
/// A synchronous task: reads its arguments and writes its result to <paramref name="result"/>.
/// The bytes written become the reply's bulk string; an exception becomes
/// <c>-ERR task 'name' failed: message</c>. Runs on a worker thread.
/// </summary>
public delegate void TaskHandler(TaskArguments arguments, IBufferWriter<byte> result);

/// <summary>
/// An asynchronous task. It runs on a worker until its first incomplete await; the worker is then free
/// for other tasks, and the reply is sent when the returned task completes.
/// </summary>
/// <remarks><paramref name="arguments"/> and <paramref name="result"/> stay valid until the returned task completes.
/// <paramref name="cancellationToken"/> is cancelled when the server stops without waiting any longer.</remarks>
public delegate ValueTask AsyncTaskHandler(TaskArguments arguments, IBufferWriter<byte> result, CancellationToken cancellationToken);

/// <summary>A registered task: its name, description and handler (exactly one of the two handler kinds).</summary>
public sealed class TaskDefinition
{
    internal TaskDefinition(string name, string description, TaskHandler? handler, AsyncTaskHandler? asyncHandler)
    {
        Name = name;
        NameUtf8 = System.Text.Encoding.UTF8.GetBytes(name);
        Description = description;
        Handler = handler;
        AsyncHandler = asyncHandler;
    }

    /// <summary>The name clients pass to <c>RUN</c> (matched case-insensitively).</summary>
    public string Name { get; }

    /// <summary><see cref="Name"/> encoded once: FETCH writes it into every task it hands out.</summary>
    internal byte[] NameUtf8 { get; }

    /// <summary>One line shown by <c>TASKS</c>.</summary>
    public string Description { get; }

    /// <summary>The name of a task no handler here runs: it waits for an external worker's FETCH.</summary>
    internal static TaskDefinition External(string name) => new(name, "", null, null);

    /// <summary>Run by this server's workers (false: by external workers).</summary>
    internal bool IsInProcess => Handler is not null || AsyncHandler is not null;

    internal TaskHandler? Handler { get; }

    internal AsyncTaskHandler? AsyncHandler { get; }

    /// <summary>How long its runs take, which decides whether the reactor may run it itself (reactor-owned).</summary>
    internal Workers.TaskRunHistory Runs { get; } = new();
}
