using System.Diagnostics;
using EventLoop.Diagnostics;
using EventLoop.Tasks;

namespace EventLoop.Workers;

/// <summary>Where short synchronous tasks run (<c>--inline-tasks</c>).</summary>
public enum InlineTaskMode
{
    /// <summary>
    /// On the reactor once proven short: under 50 µs when the process may use only one CPU, where a worker
    /// could not run beside the reactor anyway; under 5 µs otherwise, where only a task cheaper than its
    /// hand-off to another core is better run here.
    /// </summary>
    Auto,
    /// <summary>On the reactor once proven short, under 50 µs whatever the CPUs.</summary>
    Yes,
    /// <summary>Always on a worker.</summary>
    No,
}

/// <summary>
/// Runs short synchronous tasks on the reactor instead of handing them to a worker, and learns from the
/// length of every run which tasks are short. Reactor-owned: every member runs on the reactor thread.
/// </summary>
/// <remarks>
/// Why: when the worker shares the reactor's CPU it cannot run beside it, so a hand-off buys no
/// parallelism and costs two context switches per batch plus the ring's bookkeeping, more than a task of a
/// few microseconds itself; on another core the hand-off still costs the reactor more than a task of a
/// microsecond (docs/performance.md). A task qualifies only with a synchronous handler and only after its
/// runs proved short (<see cref="TaskRunHistory"/>), against <see cref="ShortRunTicks"/>.
/// </remarks>
internal sealed class InlineTaskRunner(InlineTaskMode mode, int processors, CancellationToken serverAbort)
{
    /// <summary>The reactor runs proven-short tasks itself.</summary>
    public bool Enabled { get; } = mode != InlineTaskMode.No;

    /// <summary>How short "short" is: the 50 µs bar when no worker can run beside the reactor (or <c>yes</c>), else 5 µs.</summary>
    public long ShortRunTicks { get; } = mode == InlineTaskMode.Yes || processors == 1
        ? TaskRunHistory.ShortOnOneCpuTicks : TaskRunHistory.ShortBesideWorkersTicks;

    /// <summary>Tasks the reactor ran itself.</summary>
    public long Runs { get; private set; }

    /// <summary>Times a task ran long on the reactor and went back to the workers.</summary>
    public long Demotions { get; private set; }

    /// <summary>Latency histograms, when the server has them.</summary>
    public LatencyInstruments? Latency { get; set; }

    /// <summary>True when <paramref name="task"/> should run on the reactor now.</summary>
    public bool Accepts(TaskDefinition task) => Enabled && task.Runs.Inline;

    /// <summary>Runs the task <paramref name="item"/> carries on the calling (reactor) thread; its reply is then in <see cref="WorkItem.Reply"/>.</summary>
    public void Run(WorkItem item)
    {
        TaskDefinition task = item.Task!;
        // Two clock reads per run: a run timed from the previous one's end would include the reactor's own work
        // in between, and any preemption of the reactor there would count against the task.
        long started = Stopwatch.GetTimestamp();
        item.RunHere(started, serverAbort);
        long finished = Stopwatch.GetTimestamp();
        Runs++;
        if (!task.Runs.ObserveInline(finished - started, ShortRunTicks))
            Demotions++;
        if (Latency is { Tasks.Enabled: true } latency)
            latency.RecordTask(task.Name, started, finished);
    }

    /// <summary>A worker ran <paramref name="item"/>'s task: its length counts towards running it here.</summary>
    public void ObserveWorkerRun(WorkItem item)
    {
        if (Enabled && item.Task is { Handler: not null } task)
            task.Runs.ObserveWorker(item.RunTicks, ShortRunTicks);
    }
}

/// <summary>
/// How long one task's runs take: whether the reactor may run it itself. Reactor-owned (workers report
/// each run's length in the work item, and the reactor reads it when the item comes back).
/// </summary>
/// <remarks>
/// Runs are judged in windows of <see cref="Window"/>: a window is short when at most
/// <see cref="LongInWindow"/> of its runs took longer than the runner's bar for short. A few long runs
/// are tolerated because a thread preempted mid-run measures the preemption too (a worker sharing the
/// reactor's CPU is preempted by it all the time). The task moves to the reactor after
/// <see cref="WindowsNeeded"/> short windows in a row on workers, and back to the workers after one window
/// on the reactor that was not short. A single run on the reactor over <see cref="StallTicks"/> stalled
/// every connection: it sends the task back at once. A lone stall may be the reactor's own preemption (a
/// busy machine); a stall within <see cref="StallMemory"/> runs of the previous one is the task's doing, so
/// it doubles the windows the task must pass again, and after <see cref="MaxRepeatedStalls"/> such repeats
/// the task stays on the workers for good. A task that is only sometimes long stalls the reactor a few
/// times, then never again.
/// </remarks>
internal sealed class TaskRunHistory
{
    /// <summary>Short when no worker can run beside the reactor: 50 µs, about a hundred inline commands' worth of reactor time.</summary>
    public static readonly long ShortOnOneCpuTicks = Stopwatch.Frequency / 20_000;
    /// <summary>Short when a worker could run on another core: 5 µs, a few times what handing a task over costs the reactor.</summary>
    public static readonly long ShortBesideWorkersTicks = Stopwatch.Frequency / 200_000;
    /// <summary>A run on the reactor this long (1 ms) held every connection up.</summary>
    public static readonly long StallTicks = Stopwatch.Frequency / 1_000;
    private const int Window = 64;
    private const int LongInWindow = 4;
    private const int StallMemory = 64;
    private const int MaxRepeatedStalls = 4;

    private int _runsInWindow;
    private int _longInWindow;
    private int _windowsPassed;
    private long _inlineRuns;
    private long _inlineRunsAtStall = -StallMemory - 1;
    private int _repeatedStalls;

    /// <summary>Short windows in a row on workers needed before the reactor runs the task.</summary>
    public int WindowsNeeded { get; private set; } = 1;

    /// <summary>Runs on the reactor that stalled it.</summary>
    public int Stalls { get; private set; }

    /// <summary>The reactor runs it itself.</summary>
    public bool Inline { get; private set; }

    /// <summary>Stalled the reactor too often: it runs on the workers from now on.</summary>
    public bool WorkersOnly => _repeatedStalls >= MaxRepeatedStalls;

    /// <summary>A worker's run of <paramref name="ticks"/>, short when at most <paramref name="shortTicks"/>.</summary>
    public void ObserveWorker(long ticks, long shortTicks)
    {
        if (Inline || WorkersOnly)
            return; // runs handed out before the promotion, or a task that stays on the workers
        switch (Count(ticks, shortTicks))
        {
            case WindowEnd.Short:
                Inline = ++_windowsPassed >= WindowsNeeded;
                break;
            case WindowEnd.Long:
                _windowsPassed = 0;
                break;
        }
    }

    /// <summary>A run on the reactor of <paramref name="ticks"/>; false when the task goes back to the workers.</summary>
    public bool ObserveInline(long ticks, long shortTicks)
    {
        _inlineRuns++;
        if (ticks > StallTicks)
        {
            Stalls++;
            if (_inlineRuns - _inlineRunsAtStall <= StallMemory)
            {
                _repeatedStalls++;
                WindowsNeeded *= 2;
            }
            _inlineRunsAtStall = _inlineRuns;
            return Demote();
        }
        return Count(ticks, shortTicks) != WindowEnd.Long || Demote();
    }

    private enum WindowEnd { None, Short, Long }

    /// <summary>Counts a run into the current window; says whether it ended the window, and how.</summary>
    private WindowEnd Count(long ticks, long shortTicks)
    {
        if (ticks > shortTicks)
            _longInWindow++;
        if (++_runsInWindow < Window)
            return WindowEnd.None;
        bool mostlyShort = _longInWindow <= LongInWindow;
        _runsInWindow = _longInWindow = 0;
        return mostlyShort ? WindowEnd.Short : WindowEnd.Long;
    }

    private bool Demote()
    {
        Inline = false;
        _windowsPassed = _runsInWindow = _longInWindow = 0;
        return false;
    }
}
