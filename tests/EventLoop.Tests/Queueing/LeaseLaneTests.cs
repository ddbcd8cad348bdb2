using System.Diagnostics;
using EventLoop.Queueing;
using EventLoop.Tasks;
using EventLoop.Timers;
using Xunit;

namespace EventLoop.Tests.Queueing;

/// <summary>
/// Leases in lanes, driven on a clock the test moves: each lease runs out at its own time whatever its
/// lane's timer does, ACK/TOUCH/close leave no lease behind, idle lanes go away, and a burst of expiries
/// keeps to the timer heap's budget.
/// </summary>
public class LeaseLaneTests
{
    private readonly TimerHeap _timers = new();
    private readonly QueueClock _clock = new();
    private readonly TaskStore _store;
    private readonly TaskQueue[] _queue;
    private readonly LeaseSet _owner = new();
    private readonly long _start;
    private readonly byte[] _arguments = PackedArguments.Pack([new byte[8]]);

    public LeaseLaneTests()
    {
        var registry = new TaskRegistry().AddBuiltInTasks();
        registry.Freeze();
        _store = new TaskStore(new ServerOptions(), registry, _timers, _clock, _ => { });
        _queue = [_store.GetOrCreateQueue("workers"u8)!];
        _start = _clock.NowTicks;
    }

    private TaskRecord Submit(int resultTtlSeconds = 3600)
    {
        var spec = new SubmitSpec { Task = "resize"u8, Queue = "workers"u8, BackoffMs = 1000, ResultTtlSeconds = resultTtlSeconds, Arguments = _arguments };
        Assert.Equal(SubmitOutcome.Created, _store.Submit(spec, out TaskRecord? task));
        return task!;
    }

    private Lease FetchOne(int leaseMs) => _store.Fetch(_queue, 1, leaseMs, _owner).ToArray().Single();

    /// <summary>Moves the clock to <paramref name="ms"/> after the test's start and fires what is due.</summary>
    private void At(double ms)
    {
        _clock.NowTicks = _start + (long)(ms * Stopwatch.Frequency / 1000);
        _timers.RunDue(_clock.NowTicks);
    }

    private static bool Leased(TaskRecord task) => task.State == TaskState.Running && task.Holder is Lease;

    [Fact]
    public void Leases_of_each_length_run_out_at_their_own_time()
    {
        TaskRecord shortOne = Submit(), longOne = Submit(), later = Submit();
        FetchOne(100);
        FetchOne(300);
        At(50);
        FetchOne(100);

        At(99);
        Assert.True(Leased(shortOne) && Leased(longOne) && Leased(later));
        At(101);
        Assert.Equal(TaskState.Queued, shortOne.State);
        Assert.True(Leased(longOne) && Leased(later));
        At(149);
        Assert.True(Leased(later));
        At(151);
        Assert.Equal(TaskState.Queued, later.State);
        Assert.True(Leased(longOne));
        At(301);
        Assert.Equal(TaskState.Queued, longOne.State);
        Assert.Equal(3, _store.Leases.Expired);
        Assert.Equal("lease expired after 300 ms", longOne.Error);
        Assert.Equal(0, _owner.Count);
    }

    [Fact]
    public void A_lane_firing_for_a_head_already_acked_rearms_for_the_next_lease()
    {
        Submit();
        TaskRecord second = Submit();
        Lease first = FetchOne(100);
        At(50);
        FetchOne(100);
        Assert.True(_store.Ack(first, ResultBulk.Encode([])));

        At(101);
        Assert.True(Leased(second));
        Assert.Equal(0, _store.Leases.Expired);
        At(151);
        Assert.Equal(TaskState.Queued, second.State);
        Assert.Equal(1, _store.Leases.Expired);
    }

    [Fact]
    public void Touch_moves_a_lease_to_the_lane_of_its_new_length_longer_or_shorter()
    {
        TaskRecord renewed = Submit(), shortened = Submit();
        Lease longer = FetchOne(100);
        Lease shorter = FetchOne(10_000);
        At(50);
        _store.Touch(longer, 1000);
        _store.Touch(shorter, 20);

        At(69);
        Assert.True(Leased(shortened));
        At(71);
        Assert.Equal(TaskState.Queued, shortened.State);
        Assert.Equal("lease expired after 20 ms", shortened.Error);
        At(1049);
        Assert.True(Leased(renewed));
        _store.Touch(longer, 0); // as long as last asked: 1,000 ms from now
        At(2048);
        Assert.True(Leased(renewed));
        At(2050);
        Assert.Equal(TaskState.Queued, renewed.State);
        Assert.Equal(2, _store.Leases.Expired);
    }

    [Fact]
    public void An_idle_lane_is_dropped_from_the_heap_and_its_length_still_works_afterwards()
    {
        Lease acked = FetchOneOf(Submit(resultTtlSeconds: 0), 100);
        Assert.True(_store.Ack(acked, ResultBulk.Encode("done"u8)));
        At(1);
        Assert.Equal(1, _timers.Count); // the lane's timer, still armed for the lease that is gone
        At(101);
        Assert.Equal(0, _timers.Count);

        TaskRecord next = Submit();
        FetchOne(100);
        At(200);
        Assert.True(Leased(next));
        At(202);
        Assert.Equal(TaskState.Queued, next.State);
    }

    [Fact]
    public void A_closed_connection_returns_every_lease_of_every_length_and_its_lanes_go_idle()
    {
        TaskRecord[] tasks = [.. Enumerable.Range(0, 90).Select(_ => Submit())];
        foreach (int length in new[] { 100, 200, 300 })
            Assert.Equal(30, _store.Fetch(_queue, 30, length, _owner).Length);
        Assert.Equal(90, _owner.Count);
        Assert.Equal(90, _owner.All.Count());

        _store.LoseAll(_owner);
        Assert.Equal(0, _owner.Count);
        Assert.Null(_owner.First);
        Assert.All(tasks, task => Assert.Equal(TaskState.Queued, task.State));
        Assert.Equal(90, _store.Leases.RequeuedOnClose);
        At(301);
        Assert.Equal(0, _store.Leases.Expired);
        Assert.Equal(0, _timers.Count);
    }

    [Fact]
    public void A_cancelled_lease_answered_twice_ends_once_and_a_close_after_it_returns_the_rest()
    {
        TaskRecord cancelled = Submit(), kept = Submit();
        Lease lease = FetchOne(100);
        FetchOne(100);
        Assert.True(_store.Cancel(cancelled));

        Assert.Equal(LeaseCheck.Cancelled, _store.Check(cancelled, lease.Attempt, out _));
        Assert.Equal(LeaseCheck.Cancelled, _store.Check(cancelled, lease.Attempt, out _));
        Assert.Equal(1, _owner.Count);
        _store.LoseAll(_owner);
        Assert.Equal(TaskState.Queued, kept.State);
        Assert.Equal(TaskState.Cancelled, cancelled.State);
        Assert.Equal(0, _owner.Count);
    }

    [Fact]
    public void A_fetch_past_the_reused_buffer_gets_a_lease_per_task_in_queue_order()
    {
        TaskRecord[] tasks = [.. Enumerable.Range(0, 200).Select(_ => Submit())];
        Lease[] leases = _store.Fetch(_queue, 150, 1000, _owner).ToArray();
        Assert.Equal(tasks.Take(150), leases.Select(lease => lease.Task));
        Assert.All(leases, lease => Assert.Equal(1, lease.Attempt));
        Assert.Equal(50, _store.Fetch(_queue, 150, 1000, _owner).Length);
        Assert.Equal(200, _owner.Count);
    }

    [Fact]
    public void Acks_without_a_result_share_one_empty_result()
    {
        Lease first = FetchOneOf(Submit(), 1000), second = FetchOneOf(Submit(), 1000);
        Assert.True(_store.Ack(first, ResultBulk.Encode([])));
        Assert.True(_store.Ack(second, ResultBulk.Encode([])));
        Assert.Equal("$0\r\n\r\n"u8.ToArray(), first.Task.Result);
        Assert.Same(first.Task.Result, second.Task.Result);
        Assert.Equal(0, _owner.Count);
    }

    [Fact]
    public void A_burst_of_expiries_keeps_to_the_heaps_fire_budget_per_pass()
    {
        int leases = TimerHeap.FireBudget + 1000;
        for (int i = 0; i < leases; i++)
            Submit();
        Assert.Equal(leases, _store.Fetch(_queue, leases, 100, _owner).Length);

        At(101);
        Assert.Equal(TimerHeap.FireBudget, _store.Leases.Expired);
        At(101);
        Assert.Equal(leases, _store.Leases.Expired);
        Assert.Equal(0, _owner.Count);
    }

    private Lease FetchOneOf(TaskRecord task, int leaseMs)
    {
        Lease lease = FetchOne(leaseMs);
        Assert.Same(task, lease.Task);
        return lease;
    }
}
