using System.Collections.Concurrent;

namespace EventLoop.Client;

/// <summary>How a <see cref="TaskWorker"/> fetches and runs tasks; every setting has a default.</summary>
public sealed record TaskWorkerOptions
{
    /// <summary>Queues to fetch from, in this order within a priority. Default <c>default</c>.</summary>
    public IReadOnlyList<string> Queues { get; init; } = ["default"];

    /// <summary>Tasks run at once. Default: the processor count.</summary>
    public int Concurrency { get; init; } = Environment.ProcessorCount;

    /// <summary>Lease asked for each task; renewed with TOUCH every third of it while the handler runs (so within a third of it after the fetch, then every third). Default 30 s.</summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one FETCH waits on the server for work (bounds how soon a stop is noticed). Default 1 s.</summary>
    public TimeSpan FetchBlock { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a stop waits for running handlers before it cancels and NACKs them. Default 10 s.</summary>
    public TimeSpan ShutdownGrace { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Pause before reconnecting after the connection to the server is lost. Default 1 s.</summary>
    public TimeSpan ReconnectDelay { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// A worker in another process, in a few lines: fetches tasks from an EventLoop server in batches (as many as it has
/// free slots), runs the handler registered for each task name, renews the lease while the handler runs, ACKs its
/// result or FAILs with its exception's message, and NACKs a task it has no handler for. Cancellation (CANCEL on the
/// server, or a lost lease) reaches the handler's <see cref="CancellationToken"/>. A stop lets running handlers finish
/// within <see cref="TaskWorkerOptions.ShutdownGrace"/>, then NACKs the rest: nothing is held when it returns.
/// </summary>
/// <example>
/// <code>
/// var worker = new TaskWorker("127.0.0.1", 7379, new TaskWorkerOptions { Queues = ["images"], Concurrency = 8 })
///     .Handle("resize", async (task, cancel) => await ResizeAsync(task.Arguments[0], cancel));
/// await worker.RunAsync(stoppingToken);
/// </code>
/// </example>
/// <remarks>
/// Two connections: one fetches (a blocked FETCH holds its replies back), one settles and renews. One renewal loop
/// TOUCHes every running task each third of the lease, pipelined on the settling connection, so a task that finishes
/// quickly costs no timer of its own.
/// </remarks>
public sealed class TaskWorker(string host, int port, TaskWorkerOptions? options = null)
{
    private readonly TaskWorkerOptions _options = options ?? new TaskWorkerOptions();
    private readonly Dictionary<string, Func<FetchedTask, CancellationToken, Task<ReadOnlyMemory<byte>>>> _handlers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<FetchedTask, CancellationTokenSource> _running = new();
    private readonly SemaphoreSlim _slotFreed = new(0);

    /// <summary>Tasks settled (ACK or FAIL) since the worker started.</summary>
    public long Settled => Interlocked.Read(ref _settled);

    private long _settled;

    /// <summary>Registers the handler for <paramref name="task"/>; its result is ACKed, its exception FAILs the attempt.</summary>
    public TaskWorker Handle(string task, Func<FetchedTask, CancellationToken, Task<ReadOnlyMemory<byte>>> handler)
    {
        _handlers[task] = handler;
        return this;
    }

    /// <summary>Fetches and runs tasks until <paramref name="stop"/> is cancelled, then drains (see the class remarks).</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.Concurrency, 1);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await using EventLoopClient fetcher = await EventLoopClient.ConnectAsync(host, port, stop).ConfigureAwait(false);
                await using EventLoopClient settler = await EventLoopClient.ConnectAsync(host, port, stop).ConfigureAwait(false);
                using var drained = new CancellationTokenSource();
                Task renewing = RenewLoopAsync(settler, drained.Token);
                try
                {
                    await FetchLoopAsync(fetcher, settler, stop).ConfigureAwait(false);
                    await DrainAsync(settler).ConfigureAwait(false);
                    return;
                }
                finally
                {
                    await drained.CancelAsync().ConfigureAwait(false);
                    await renewing.ConfigureAwait(false);
                }
            }
            catch (Exception lost) when (lost is RespConnectionException or IOException && !stop.IsCancellationRequested)
            {
                // The server went away: what this worker held is requeued by the server; start over.
                CancelRunning();
                await Task.Delay(_options.ReconnectDelay, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private async Task FetchLoopAsync(EventLoopClient fetcher, EventLoopClient settler, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            int free = _options.Concurrency - _running.Count;
            if (free <= 0)
            {
                try
                {
                    await _slotFreed.WaitAsync(stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return; // stopping: drain what runs
                }
                continue;
            }
            IReadOnlyList<FetchedTask> tasks = await fetcher.FetchAsync(_options.Queues, free, _options.FetchBlock, _options.Lease).ConfigureAwait(false);
            foreach (FetchedTask task in tasks)
            {
                var cancel = new CancellationTokenSource();
                _running[task] = cancel;
                _ = Task.Run(() => RunOneAsync(settler, task, cancel), CancellationToken.None);
            }
        }
    }

    private async Task RunOneAsync(EventLoopClient settler, FetchedTask task, CancellationTokenSource cancel)
    {
        try
        {
            if (!_handlers.TryGetValue(task.Task, out var handler))
            {
                await settler.NackAsync(task).ConfigureAwait(false);
                return;
            }
            DeliveryOutcome outcome;
            try
            {
                ReadOnlyMemory<byte> result = await handler(task, cancel.Token).ConfigureAwait(false);
                outcome = await settler.AckAsync(task, result).ConfigureAwait(false);
            }
            catch (Exception failure) when (failure is not RespConnectionException)
            {
                outcome = cancel.IsCancellationRequested
                    ? DeliveryOutcome.Cancelled // told to stop: the server knows already
                    : await settler.FailAsync(task, failure.Message).ConfigureAwait(false);
            }
            if (outcome == DeliveryOutcome.Accepted)
                Interlocked.Increment(ref _settled);
        }
        catch (Exception)
        {
            // The connection is gone: the server requeues the task when it sees the close.
        }
        finally
        {
            _running.TryRemove(task, out _);
            cancel.Dispose();
            _slotFreed.Release();
        }
    }

    /// <summary>
    /// Every third of the lease, TOUCHes each running task, all in one pipelined burst; a cancelled or lost delivery
    /// cancels its handler. Ends when <paramref name="done"/> is cancelled or the connection is lost.
    /// </summary>
    private async Task RenewLoopAsync(EventLoopClient settler, CancellationToken done)
    {
        TimeSpan every = _options.Lease / 3;
        var touches = new List<(CancellationTokenSource Handler, Task<DeliveryOutcome> Touch)>();
        try
        {
            while (true)
            {
                await Task.Delay(every, done).ConfigureAwait(false);
                foreach ((FetchedTask task, CancellationTokenSource handler) in _running)
                    touches.Add((handler, settler.TouchAsync(task)));
                foreach ((CancellationTokenSource handler, Task<DeliveryOutcome> touch) in touches)
                    if (await touch.ConfigureAwait(false) != DeliveryOutcome.Accepted)
                        await CancelHandlerAsync(handler).ConfigureAwait(false);
                touches.Clear();
            }
        }
        catch (Exception e) when (e is OperationCanceledException or RespConnectionException)
        {
            // Stopped, or the connection is gone: the fetch loop sees that too and starts over.
        }
    }

    /// <summary>Cancels a handler from the thread pool (its callbacks do not run on the renewal loop), if it still runs.</summary>
    private static async Task CancelHandlerAsync(CancellationTokenSource handler)
    {
        try
        {
            await handler.CancelAsync().ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            // It finished meanwhile.
        }
    }

    /// <summary>Lets running handlers finish within the grace period, then cancels and NACKs what is left.</summary>
    private async Task DrainAsync(EventLoopClient settler)
    {
        DateTime deadline = DateTime.UtcNow + _options.ShutdownGrace;
        while (!_running.IsEmpty && DateTime.UtcNow < deadline)
            await Task.Delay(20).ConfigureAwait(false);
        foreach ((FetchedTask task, CancellationTokenSource cancel) in _running)
        {
            try
            {
                await cancel.CancelAsync().ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                continue; // it finished meanwhile
            }
            await settler.NackAsync(task).ConfigureAwait(false);
        }
    }

    private void CancelRunning()
    {
        foreach (CancellationTokenSource cancel in _running.Values)
            cancel.Cancel();
    }
}
