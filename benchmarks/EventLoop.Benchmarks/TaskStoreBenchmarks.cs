using BenchmarkDotNet.Attributes;
using EventLoop.Protocol;
using EventLoop.Queueing;
using EventLoop.Tasks;
using EventLoop.Timers;

namespace EventLoop.Benchmarks;

/// <summary>
/// The task queue's state machine without sockets or threads: one task's whole life as the reactor drives
/// it (SUBMIT with 64 argument bytes → handed to a worker → succeeded with a 64-byte result → expired),
/// and the same for an external worker's lease (FETCH → ACK). The allocation column is what a task costs
/// the store beyond its own argument and result arrays (counted separately in the summary).
/// <see cref="PendingDeadlines"/> other deadlines wait in the timer heap meanwhile (delayed tasks), as a busy
/// server's result expiries do: what a per-task deadline costs grows with them.
/// </summary>
/// <remarks>Run: <c>./build.sh bench --filter '*TaskStore*'</c></remarks>
[MemoryDiagnoser]
public class TaskStoreBenchmarks
{
    private const int Tasks = 10_000;
    private static readonly byte[] Payload = new byte[64];

    private sealed class Holder : ITaskHolder
    {
        public void CancelRun()
        {
        }
    }

    private readonly Holder _holder = new();
    private TaskStore _store = null!;
    private TimerHeap _timers = null!;
    private QueueClock _clock = null!;
    private byte[] _arguments = null!;
    private byte[] _result = null!;
    private TaskQueue[] _externalQueue = null!;
    private LeaseSet _leases = null!;

    [Params(0, 100_000)]
    public int PendingDeadlines { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var registry = new TaskRegistry().AddBuiltInTasks();
        registry.Freeze();
        _timers = new TimerHeap();
        _clock = new QueueClock();
        _store = new TaskStore(new ServerOptions(), registry, _timers, _clock, _ => { });
        _arguments = PackedArguments.Pack([Payload]);
        _result = ResultBulk.Encode(Payload);
        _externalQueue = [_store.GetOrCreateQueue("workers"u8)!];
        _leases = new LeaseSet();
        long later = _clock.UnixMs + 86_400_000;
        for (int i = 0; i < PendingDeadlines; i++)
        {
            var spec = new SubmitSpec { Task = "resize"u8, Queue = "later"u8, RunAtMs = later + i, BackoffMs = 1000, Arguments = _arguments };
            _store.Submit(spec, out _);
        }
    }

    /// <summary>SUBMIT echo → worker → succeeded → result expired, per task.</summary>
    [Benchmark(OperationsPerInvoke = Tasks)]
    public void InProcessLifecycle()
    {
        for (int i = 0; i < Tasks; i++)
        {
            var spec = new SubmitSpec { Task = "echo"u8, BackoffMs = 1000, ResultTtlSeconds = 0, Arguments = _arguments };
            _store.Submit(spec, out TaskRecord? task);
            TaskRecord runnable = _store.TakeRunnable()!;
            int attempt = _store.Start(runnable, _holder);
            _store.Succeed(task!, attempt, _result);
        }
        ExpireFinished();
    }

    /// <summary>SUBMIT → FETCH → ACK → result expired, per task.</summary>
    [Benchmark(OperationsPerInvoke = Tasks)]
    public void ExternalLifecycle()
    {
        for (int i = 0; i < Tasks; i++)
        {
            var spec = new SubmitSpec { Task = "resize"u8, Queue = "workers"u8, BackoffMs = 1000, ResultTtlSeconds = 0, Arguments = _arguments };
            _store.Submit(spec, out _);
            foreach (Lease lease in _store.Fetch(_externalQueue, 1, 30_000, _leases))
                _store.Ack(lease, _result);
        }
        ExpireFinished();
    }

    /// <summary>Fires the finished tasks' expiries (due now: RESULT-TTL 0), leaving the pending deadlines armed.</summary>
    private void ExpireFinished()
    {
        _clock.NowTicks = System.Diagnostics.Stopwatch.GetTimestamp();
        while (_store.Count > PendingDeadlines)
            _timers.RunDue(_clock.NowTicks);
    }
}
