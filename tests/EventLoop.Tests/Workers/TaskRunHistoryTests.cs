using System.Diagnostics;
using EventLoop.Workers;

namespace EventLoop.Tests.Workers;

/// <summary>When a task earns a place on the reactor, and when it loses it.</summary>
public sealed class TaskRunHistoryTests
{
    private const int Window = 64;
    private static readonly long Bar = TaskRunHistory.ShortOnOneCpuTicks;
    private static readonly long Short = Bar / 10;
    private static readonly long Long = Bar * 2;
    private static readonly long Stall = TaskRunHistory.StallTicks * 2;

    [Fact]
    public void A_window_of_short_worker_runs_promotes_a_task()
    {
        var runs = new TaskRunHistory();
        for (int i = 0; i < Window - 1; i++)
            runs.ObserveWorker(Short, Bar);
        Assert.False(runs.Inline);
        runs.ObserveWorker(Short, Bar);
        Assert.True(runs.Inline);
    }

    [Fact]
    public void Four_long_runs_in_a_window_are_tolerated_five_are_not()
    {
        var tolerant = new TaskRunHistory();
        Observe(tolerant, longRuns: 4);
        Assert.True(tolerant.Inline);

        var strict = new TaskRunHistory();
        Observe(strict, longRuns: 5);
        Assert.False(strict.Inline);
        Observe(strict, longRuns: 0); // the next window starts afresh
        Assert.True(strict.Inline);
    }

    [Fact]
    public void The_bar_is_the_callers()
    {
        var runs = new TaskRunHistory();
        for (int i = 0; i < 10 * Window; i++)
            runs.ObserveWorker(TaskRunHistory.ShortBesideWorkersTicks * 2, TaskRunHistory.ShortBesideWorkersTicks);
        Assert.False(runs.Inline);
        for (int i = 0; i < Window; i++)
            runs.ObserveWorker(TaskRunHistory.ShortBesideWorkersTicks * 2, TaskRunHistory.ShortOnOneCpuTicks);
        Assert.True(runs.Inline);
    }

    [Fact]
    public void A_task_whose_runs_are_long_never_moves_to_the_reactor()
    {
        var runs = new TaskRunHistory();
        for (int i = 0; i < 100 * Window; i++)
            runs.ObserveWorker(Long, Bar);
        Assert.False(runs.Inline);
    }

    [Fact]
    public void A_window_on_the_reactor_with_too_many_long_runs_sends_it_back()
    {
        TaskRunHistory runs = Promoted();
        for (int i = 0; i < Window - 5; i++)
            Assert.True(runs.ObserveInline(Short, Bar));
        for (int i = 0; i < 4; i++)
            Assert.True(runs.ObserveInline(Long, Bar));
        Assert.False(runs.ObserveInline(Long, Bar)); // the fifth long run ends the window
        Assert.False(runs.Inline);
        Assert.Equal(0, runs.Stalls);
        Assert.Equal(1, runs.WindowsNeeded); // a long window is no stall: no harder to come back
    }

    [Fact]
    public void A_lone_stall_demotes_without_penalty_repeated_stalls_double_the_way_back_then_end_it()
    {
        TaskRunHistory runs = Promoted();
        Assert.False(runs.ObserveInline(Stall, Bar));
        Assert.False(runs.Inline);
        Assert.Equal(1, runs.Stalls);
        Assert.Equal(1, runs.WindowsNeeded);

        for (int repeat = 1; repeat <= 4; repeat++)
        {
            Promote(runs);
            Assert.True(runs.ObserveInline(Short, Bar));
            Assert.False(runs.ObserveInline(Stall, Bar)); // within StallMemory runs of the last stall
            Assert.Equal(1 << repeat, runs.WindowsNeeded);
        }
        Assert.True(runs.WorkersOnly);
        for (int i = 0; i < 1000 * Window; i++)
            runs.ObserveWorker(Short, Bar);
        Assert.False(runs.Inline);
    }

    [Fact]
    public void Stalls_far_apart_are_each_forgiven()
    {
        TaskRunHistory runs = Promoted();
        for (int stall = 0; stall < 10; stall++)
        {
            for (int i = 0; i < 2048; i++)
                Assert.True(runs.ObserveInline(Short, Bar));
            Assert.False(runs.ObserveInline(Stall, Bar));
            Promote(runs);
        }
        Assert.Equal(10, runs.Stalls);
        Assert.False(runs.WorkersOnly);
        Assert.Equal(1, runs.WindowsNeeded);
    }

    [Fact]
    public void The_thresholds_are_50_and_5_microseconds_and_1_millisecond()
    {
        Assert.Equal(50, TaskRunHistory.ShortOnOneCpuTicks * 1_000_000 / Stopwatch.Frequency);
        Assert.Equal(5, TaskRunHistory.ShortBesideWorkersTicks * 1_000_000 / Stopwatch.Frequency);
        Assert.Equal(1000, TaskRunHistory.StallTicks * 1_000_000 / Stopwatch.Frequency);
    }

    private static void Observe(TaskRunHistory runs, int longRuns)
    {
        for (int i = 0; i < Window; i++)
            runs.ObserveWorker(i < longRuns ? Long : Short, Bar);
    }

    private static TaskRunHistory Promoted()
    {
        var runs = new TaskRunHistory();
        Promote(runs);
        return runs;
    }

    private static void Promote(TaskRunHistory runs)
    {
        for (int i = 0; i < runs.WindowsNeeded * Window && !runs.Inline; i++)
            runs.ObserveWorker(Short, Bar);
        Assert.True(runs.Inline);
    }
}
