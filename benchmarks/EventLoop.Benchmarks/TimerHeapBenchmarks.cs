using BenchmarkDotNet.Attributes;
using EventLoop.Timers;

namespace EventLoop.Benchmarks;

/// <summary>
/// The reactor's one timer structure with <see cref="Pending"/> deadlines armed (delayed tasks, result
/// expiries, parked requests): what one more costs to arm, to cancel and re-arm (a task whose timeout is
/// cleared when it finishes), and to fire once due. The entries are allocated once; every operation
/// should show 0 B.
/// </summary>
/// <remarks>Run: <c>./build.sh bench --filter '*TimerHeap*'</c></remarks>
[MemoryDiagnoser]
public class TimerHeapBenchmarks
{
    private const int Operations = 10_000;

    private sealed class Entry : TimerEntry
    {
        internal override void OnDue(long now)
        {
        }
    }

    private TimerHeap _heap = null!;
    private Entry[] _churn = null!;
    private long _clock;

    /// <summary>Deadlines already armed.</summary>
    [Params(1_000, 1_000_000)]
    public int Pending { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _heap = new TimerHeap();
        var random = new Random(1);
        _clock = 1_000_000_000;
        for (int i = 0; i < Pending; i++)
            _heap.Schedule(new Entry(), _clock + random.Next(1, 1_000_000_000));
        _churn = [.. Enumerable.Range(0, Operations).Select(_ => new Entry())];
    }

    /// <summary>Arms and cancels <see cref="Operations"/> deadlines spread over the pending range.</summary>
    [Benchmark(OperationsPerInvoke = Operations)]
    public void ArmThenCancel()
    {
        long due = _clock;
        foreach (Entry entry in _churn)
            _heap.Schedule(entry, due += 97_003);
        foreach (Entry entry in _churn)
            _heap.Cancel(entry);
    }

    /// <summary>Arms <see cref="Operations"/> deadlines before every pending one, then fires them.</summary>
    [Benchmark(OperationsPerInvoke = Operations)]
    public void ArmThenExpire()
    {
        long due = _clock - Operations;
        foreach (Entry entry in _churn)
            _heap.Schedule(entry, due++);
        for (int fired = 0; fired < Operations; fired += TimerHeap.FireBudget)
            _heap.RunDue(_clock);
    }
}
