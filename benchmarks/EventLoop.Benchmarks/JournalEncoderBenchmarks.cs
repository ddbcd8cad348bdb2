using BenchmarkDotNet.Attributes;
using EventLoop.Buffers;
using EventLoop.Journal;
using EventLoop.Queueing;
using EventLoop.Tasks;
using EventLoop.Timers;

namespace EventLoop.Benchmarks;

/// <summary>
/// What the journal costs the reactor per record, without the disk: a SUBMIT's TaskPut (64 argument bytes,
/// about 141 bytes on disk as durability.sh measures it) and a later TaskState, encoded with their CRC into the
/// pass's batch buffer. The allocation column must read 0 B: the buffer is reused once it has grown to a pass's size.
/// </summary>
/// <remarks>Run: <c>./build.sh bench --filter '*JournalEncoder*'</c></remarks>
[MemoryDiagnoser]
public class JournalEncoderBenchmarks
{
    private const int Records = 1_000;
    private readonly JournalEncoder _encoder = new(lastLsn: 0);
    private TaskRecord _task = null!;

    [GlobalSetup]
    public void Setup()
    {
        var registry = new TaskRegistry().AddBuiltInTasks();
        registry.Freeze();
        var store = new TaskStore(new ServerOptions(), registry, new TimerHeap(), new QueueClock(), _ => { });
        var spec = new SubmitSpec { Task = "bench"u8, Queue = "bench"u8, Arguments = PackedArguments.Pack([new byte[64]]) };
        store.Submit(spec, out TaskRecord? task);
        _task = task!;
        _encoder.Live = new PooledBuffer();
    }

    /// <summary>One SUBMIT's record.</summary>
    [Benchmark(OperationsPerInvoke = Records)]
    public void TaskPut()
    {
        PooledBuffer live = _encoder.Live;
        live.Clear();
        for (int i = 0; i < Records; i++)
            _encoder.TaskPut(_task);
    }

    /// <summary>One transition's record (the task's id and state fields).</summary>
    [Benchmark(OperationsPerInvoke = Records)]
    public void TaskState()
    {
        PooledBuffer live = _encoder.Live;
        live.Clear();
        for (int i = 0; i < Records; i++)
            _encoder.TaskState(_task);
    }
}
