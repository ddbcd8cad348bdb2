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
/// worker competes with the reactor for the same CPU.
/// </remarks>
internal sealed class WorkerPool
{
    private const int SpinRounds = 64;
    private const int YieldRounds = 8;

    private readonly BoundedRingQueue<WorkItem> _ring;
    private readonly CompletionQueue _completions;
    private readonly ReactorWakeup _wakeup;
    private readonly Thread[] _threads;
    private readonly WorkerCounters[] _counters;
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
        _counters = new WorkerCounters[workers];
        _threads = new Thread[workers];
        for (int i = 0; i < workers; i++)
        {
            _counters[i] = new WorkerCounters();
            int index = i;
            _threads[i] = new Thread(() => WorkLoop(index)) { IsBackground = true, Name = $"eventloop-worker-{i}" };
        }
    }

    public int RingCapacity => _ring.Capacity;

    public int RingDepth => _ring.Count;

    public int WorkerCount => _threads.Length;

    public int Parked => Volatile.Read(ref _parked);

    public IReadOnlyList<WorkerCounters> Counters => _counters;

    /// <summary>Set by the reactor while a connection waits for room in the ring: a worker that frees a
    /// slot then wakes the reactor instead of leaving it asleep until some task completes.</summary>
    public bool ProducerWaiting
    {
        get => _producerWaiting;
        set => _producerWaiting = value;
    }

    public void Start()
    {
        foreach (Thread thread in _threads)
            thread.Start();
    }

    /// <summary>Reactor: hands <paramref name="item"/> to the workers; false when the ring is full.</summary>
    public bool TrySubmit(WorkItem item)
    {
        if (!_ring.TryEnqueue(item))
            return false;
        WakeOneIfParked();
        return true;
    }

    /// <summary>Worker or continuation: returns a finished item to the reactor.</summary>
    public void Complete(WorkItem item)
    {
        _completions.Push(item);
        _wakeup.Wake();
    }

    /// <summary>Cancels the tokens given to asynchronous tasks (used when a graceful stop runs out of time).</summary>
    public void AbortAsyncTasks() => _abort.Cancel();

    /// <summary>Lets the workers finish what the ring holds (unless async tasks were aborted: then they
    /// stop after their current task), and waits for them.</summary>
    public void Stop()
    {
        _stopping = true;
        _unpark.Release(_threads.Length);
        foreach (Thread thread in _threads)
            thread.Join();
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

    private void WorkLoop(int index)
    {
        WorkerCounters counters = _counters[index];
        CancellationToken abort = _abort.Token;
        int idleRounds = 0;
        while (true)
        {
            if (_abort.IsCancellationRequested && _stopping)
                return;
            if (_ring.TryDequeue(out WorkItem? item))
            {
                if (_producerWaiting)
                    _wakeup.Wake();
                long started = Stopwatch.GetTimestamp();
                item.Run(this, abort);
                counters.Record(Stopwatch.GetTimestamp() - started);
                idleRounds = 0;
                continue;
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

/// <summary>One worker's counters: written by that worker only, read by INFO on the reactor.</summary>
/// <remarks>Explicit layout pads the counters onto their own cache line, so workers do not false-share.</remarks>
[StructLayout(LayoutKind.Explicit, Size = 192)]
internal sealed class WorkerCounters
{
    [FieldOffset(64)] private long _tasks;
    [FieldOffset(72)] private long _busyTicks;

    public long Tasks => Volatile.Read(ref _tasks);

    public TimeSpan Busy => Stopwatch.GetElapsedTime(0, Volatile.Read(ref _busyTicks));

    public void Record(long ticks)
    {
        Volatile.Write(ref _tasks, _tasks + 1);
        Volatile.Write(ref _busyTicks, _busyTicks + ticks);
    }
}
