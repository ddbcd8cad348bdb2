using EventLoop.Timers;
using Xunit;

namespace EventLoop.Tests.Timers;

public class TimerHeapTests
{
    private sealed class Recorder(List<int> fired, int id) : TimerEntry
    {
        public int Id { get; } = id;

        internal override void OnDue(long now) => fired.Add(Id);
    }

    [Fact]
    public void Entries_fire_in_due_order_and_only_once_due()
    {
        var heap = new TimerHeap();
        var fired = new List<int>();
        var random = new Random(7);
        var entries = Enumerable.Range(0, 5000).Select(i => new Recorder(fired, i)).ToList();
        var due = entries.ToDictionary(e => e.Id, _ => (long)random.Next(1, 1_000_000));
        foreach (Recorder entry in entries)
            heap.Schedule(entry, due[entry.Id]);

        heap.RunDue(500_000);
        Assert.All(fired, id => Assert.True(due[id] <= 500_000));
        Assert.Equal(due.Count(d => d.Value <= 500_000), fired.Count);
        for (int i = 0; i < 100; i++)
            heap.RunDue(long.MaxValue);
        Assert.Equal(5000, fired.Count);
        Assert.Equal(fired.OrderBy(id => due[id]).ThenBy(id => id).Select(id => due[id]), fired.Select(id => due[id]));
        Assert.Equal(0, heap.Count);
    }

    [Fact]
    public void A_cancelled_entry_never_fires_and_the_rest_keep_their_order()
    {
        var heap = new TimerHeap();
        var fired = new List<int>();
        var entries = Enumerable.Range(0, 1000).Select(i => new Recorder(fired, i)).ToList();
        foreach (Recorder entry in entries)
            heap.Schedule(entry, 1000 - entry.Id);
        foreach (Recorder entry in entries.Where(e => e.Id % 3 == 0))
            Assert.True(heap.Cancel(entry));
        Assert.False(heap.Cancel(entries[0]));
        Assert.False(entries[0].IsArmed);

        heap.RunDue(long.MaxValue);
        Assert.Equal(entries.Where(e => e.Id % 3 != 0).Select(e => e.Id).OrderByDescending(id => id), fired);
    }

    [Fact]
    public void Rearming_moves_an_entry_earlier_or_later()
    {
        var heap = new TimerHeap();
        var fired = new List<int>();
        var a = new Recorder(fired, 1);
        var b = new Recorder(fired, 2);
        var c = new Recorder(fired, 3);
        heap.Schedule(a, 10);
        heap.Schedule(b, 20);
        heap.Schedule(c, 30);
        heap.Schedule(c, 5);   // earlier
        heap.Schedule(a, 40);  // later
        Assert.Equal(3, heap.Count);

        heap.RunDue(long.MaxValue);
        Assert.Equal([3, 2, 1], fired);
    }

    [Fact]
    public void One_call_fires_at_most_its_budget_so_a_burst_is_spread_over_iterations()
    {
        var heap = new TimerHeap();
        var fired = new List<int>();
        for (int i = 0; i < TimerHeap.FireBudget + 10; i++)
            heap.Schedule(new Recorder(fired, i), 1);
        heap.RunDue(2);
        Assert.Equal(TimerHeap.FireBudget, fired.Count);
        Assert.Equal(0, heap.MillisecondsUntilNext(2));
        heap.RunDue(2);
        Assert.Equal(TimerHeap.FireBudget + 10, fired.Count);
        Assert.Equal(-1, heap.MillisecondsUntilNext(2));
    }

    [Fact]
    public void An_entry_may_rearm_itself_while_firing()
    {
        var heap = new TimerHeap();
        int firings = 0;
        CallbackTimer? timer = null;
        timer = new CallbackTimer(() =>
        {
            if (++firings < 3)
                heap.Schedule(timer!, 100 * (firings + 1));
        });
        heap.Schedule(timer, 100);
        heap.RunDue(250);
        Assert.Equal(2, firings); // re-armed for 200, still due at 250: fired in the same call
        Assert.True(timer.IsArmed);
        heap.RunDue(1000);
        Assert.Equal(3, firings);
        Assert.False(timer.IsArmed);
        Assert.Equal(0, heap.Count);
    }
}
