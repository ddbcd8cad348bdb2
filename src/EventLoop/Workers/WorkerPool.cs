using System.Diagnostics;
using System.Runtime.InteropServices;
using EventLoop.Queues;
using EventLoop.Reactor;

namespace EventLoop.Workers;

/// <summary>
/// The worker threads: they take work items from the ring, run their tasks, and push the finished items
/// on the completion queue, waking the reactor only if it sleeps.
/// </summary>
/// <remarks>
/// The reactor is the only producer into the ring; the workers are its consumers. An idle worker spins
/// briefly, then yields, then parks on a semaphore; the reactor releases the semaphore only when a worker
/// is parked, so a busy pool costs no syscall per task. With 2 cores the spin is kept short: a spinning
/// worker competes with the reactor for the same CPU. The list of workers is changed and read by the
/// reactor only (<see cref="ReplaceStuckWorkers"/>, INFO); each worker touches only its own slot.
/// </remarks>
internal sealed class WorkerPool
{
    // Spinning only pays when another CPU is producing meanwhile: on one CPU (e.g. under taskset -c 0,
    // which Environment.ProcessorCount reflects) a spinning worker just delays the reactor it waits for.
    private static readonly int SpinRounds = Environment.ProcessorCount > 1 ? 64 : 0;
    private static readonly int YieldRounds = Environment.ProcessorCount > 1 ? 8 : 1;
    /// <summary>Finished tasks a worker pushes before it must wake the reactor.</summary>
    private const int AnnounceEvery = 16;
    /// <summary>Stuck workers tolerated per configured worker before replacement stops (each holds a thread).</summary>
    private const int ReplacementsPerWorker = 4;

    private readonly BoundedRingQueue<WorkItem> _ring;
    private readonly CompletionQueue _completions;
    private readonly ReactorWakeup _wakeup;
    private readonly List<WorkerSlot> _slots = [];
    private readonly int _configuredWorkers;
    private readonly SemaphoreSlim _unpark = new(0);
    private readonly CancellationTokenSource _abort = new();
    private int _parked;
    private volatile bool _stopping;
    private volatile bool _producerWaiting;

    public WorkerPool(int workers, int ringCapacity, CompletionQueue completions, ReactorWakeup wakeup)
    {
        _ring = new BoundedRingQueue<WorkItem>(ringCapacity);
        _completions = completions;
        _wakeup = wakeup;
        _configuredWorkers = workers;
    }

    public int RingCapacity => _ring.Capacity;

    public int RingDepth => _ring.Count;

    /// <summary>Workers serving the ring (retired ones excluded).</summary>
    public int WorkerCount => _slots.Count(s => !s.Retired);

    /// <summary>Workers replaced because a task held them past the task timeout.</summary>
    public int Replaced => _slots.Count(s => s.Retired);

    public int Parked => Volatile.Read(ref _parked);

    /// <summary>Cancelled when a graceful stop runs out of time (<see cref="AbortAsyncTasks"/>).</summary>
    public CancellationToken AbortToken => _abort.Token;

    public IReadOnlyList<WorkerSlot> Slots => _slots;

    /// <summary>Set by the reactor while a connection waits for room in the ring: a worker that frees a
    /// slot then wakes the reactor instead of leaving it asleep until some task completes.</summary>
    public bool ProducerWaiting
    {
        get => _producerWaiting;
        set => _producerWaiting = value;
    }

    public void Start()
    {
        for (int i = 0; i < _configuredWorkers; i++)
            StartWorker();
    }

    /// <summary>
    /// Reactor: hands <paramref name="item"/> to the workers; false when the ring is full. Parked workers
    /// are woken once per iteration by <see cref="WakeWorkersForQueuedItems"/>, not per item: when the
    /// reactor and a worker share a CPU, a wake per item would preempt the reactor for every task.
    /// </summary>
    public bool TrySubmit(WorkItem item) => _ring.TryEnqueue(item);

    /// <summary>Reactor, once per iteration: wakes as many parked workers as there are queued items.</summary>
    public void WakeWorkersForQueuedItems()
    {
        for (int queued = _ring.Count; queued > 0 && Volatile.Read(ref _parked) > 0; queued--)
            WakeOneIfParked();
    }

    /// <summary>An asynchronous task's continuation: returns the finished item to the reactor and wakes it if asleep.</summary>
    public void Complete(WorkItem item)
    {
        _completions.Push(item);
        _wakeup.Wake();
    }

    /// <summary>
    /// Reactor: a worker busy with one task for longer than <paramref name="limitTicks"/> is retired (it
    /// exits when its task returns, if ever) and a fresh worker takes its place.
    /// </summary>
    public void ReplaceStuckWorkers(long now, long limitTicks, Action<string> log)
    {
        for (int i = 0; i < _slots.Count; i++)
        {
            WorkerSlot slot = _slots[i];
            long busySince = slot.BusySince;
            if (slot.Retired || busySince == 0 || now - busySince <= limitTicks)
                continue;
            if (Replaced >= _configuredWorkers * ReplacementsPerWorker)
            {
                log($"worker {slot.Index} is stuck in a task but {Replaced} workers are already stuck: not replacing it");
                return;
            }
            slot.Retired = true;
            WorkerSlot replacement = StartWorker();
            log($"worker {slot.Index} has run one task for over the task timeout: retired it, started worker {replacement.Index}");
        }
    }

    /// <summary>Cancels the tokens given to asynchronous tasks (used when a graceful stop runs out of time).</summary>
    public void AbortAsyncTasks() => _abort.Cancel();

    /// <summary>
    /// Lets the workers finish what the ring holds (after an abort, only their current task), and waits
    /// for them; a worker stuck in a task is left behind (workers are background threads).
    /// </summary>
    public void Stop()
    {
        _stopping = true;
        _unpark.Release(_slots.Count);
        foreach (WorkerSlot slot in _slots)
        {
            if (!slot.Retired)
                slot.Thread.Join(TimeSpan.FromSeconds(5));
        }
    }

    private WorkerSlot StartWorker()
    {
        var slot = new WorkerSlot(_slots.Count);
        slot.Thread = new Thread(() => WorkLoop(slot)) { IsBackground = true, Name = $"eventloop-worker-{slot.Index}" };
        _slots.Add(slot);
        slot.Thread.Start();
        return slot;
    }

    private void WakeOneIfParked()
    {
        int parked;
        while ((parked = Volatile.Read(ref _parked)) > 0)
        {
            if (Interlocked.CompareExchange(ref _parked, parked - 1, parked) == parked)
            {
                _unpark.Release();
                return;
            }
        }
    }

    private bool TryUnparkSelf()
    {
        int parked;
        while ((parked = Volatile.Read(ref _parked)) > 0)
        {
            if (Interlocked.CompareExchange(ref _parked, parked - 1, parked) == parked)
                return true;
        }
        return false;
    }

    private void WorkLoop(WorkerSlot slot)
    {
        CancellationToken abort = _abort.Token;
        int idleRounds = 0;
        int unannounced = 0;
        // Back to back, one clock read serves as one task's end and the next one's start.
        long lastFinished = 0;
        while (!slot.Retired && !(_stopping && abort.IsCancellationRequested))
        {
            if (_ring.TryDequeue(out WorkItem? item))
            {
                if (_producerWaiting)
                    _wakeup.Wake();
                long started = lastFinished != 0 ? lastFinished : Stopwatch.GetTimestamp();
                slot.BusySince = started;
                bool finishedHere = item.Run(this, started, abort);
                lastFinished = Stopwatch.GetTimestamp();
                if (finishedHere)
                {
                    item.RunTicks = lastFinished - started; // before the push: the item is the reactor's after it
                    _completions.Push(item);
                    // Wake the reactor once per batch rather than per task; a long batch still
                    // announces itself every few tasks so replies do not wait for its end.
                    if (++unannounced >= AnnounceEvery)
                    {
                        _wakeup.Wake();
                        unannounced = 0;
                    }
                }
                slot.Record(lastFinished - started);
                idleRounds = 0;
                continue;
            }
            lastFinished = 0; // idle from here: the next task reads the clock afresh
            if (unannounced > 0)
            {
                _wakeup.Wake();
                unannounced = 0;
            }
            if (_stopping)
                return;
            idleRounds++;
            if (idleRounds <= SpinRounds)
                Thread.SpinWait(32);
            else if (idleRounds <= SpinRounds + YieldRounds)
                Thread.Yield();
            else
            {
                Park();
                idleRounds = 0;
            }
        }
    }

    private void Park()
    {
        Interlocked.Increment(ref _parked);
        // Re-check after announcing: the reactor may have enqueued before it could see us parked.
        if (_ring.Count > 0 || _stopping)
        {
            if (TryUnparkSelf())
                return;
            // The reactor claimed our parked slot first; its Release is on the way: consume it.
        }
        _unpark.Wait();
    }
}

/// <summary>
/// One worker's thread and counters. The counters are written by that worker only and read by the
/// reactor (INFO, timeouts); <see cref="Retired"/> is written by the reactor and read by the worker.
/// </summary>
/// <remarks>Explicit layout keeps the hot counters on their own cache line, so workers do not false-share.</remarks>
[StructLayout(LayoutKind.Explicit, Size = 192)]
internal sealed class WorkerSlot(int index)
{
    [FieldOffset(64)] private long _tasks;
    [FieldOffset(72)] private long _busyTicks;
    [FieldOffset(80)] private long _busySince;
    [FieldOffset(88)] private volatile bool _retired;
    [FieldOffset(96)] public Thread Thread = null!;
    [FieldOffset(104)] public readonly int Index = index;

    public long Tasks => Volatile.Read(ref _tasks);

    public TimeSpan Busy => Stopwatch.GetElapsedTime(0, Volatile.Read(ref _busyTicks));

    /// <summary>Stopwatch ticks when the current task started; 0 when idle.</summary>
    public long BusySince
    {
        get => Volatile.Read(ref _busySince);
        set => Volatile.Write(ref _busySince, value);
    }

    public bool Retired
    {
        get => _retired;
        set => _retired = value;
    }

    public void Record(long ticks)
    {
        Volatile.Write(ref _tasks, _tasks + 1);
        Volatile.Write(ref _busyTicks, _busyTicks + ticks);
        BusySince = 0;
    }
}
