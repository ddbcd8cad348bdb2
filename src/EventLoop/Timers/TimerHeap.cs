using System.Diagnostics;

namespace EventLoop.Timers;

/// <summary>
/// Every deadline of the server in one 4-ary min-heap keyed by due time (Stopwatch ticks). Insert, cancel
/// and re-arm are O(log n) through the index each <see cref="TimerEntry"/> keeps; nothing is scanned per
/// tick, so a million delayed tasks cost nothing until they are due. The nearest deadline bounds the
/// reactor's wait. Owned by the reactor thread.
/// </summary>
/// <remarks>
/// Four children per node halve the depth of a binary heap and keep siblings on one cache line, which is
/// what insert-heavy timer loads (most deadlines are cancelled or moved before they fire) reward.
/// </remarks>
internal sealed class TimerHeap
{
    private const int Arity = 4;
    /// <summary>Entries fired per <see cref="RunDue"/> call: a million deadlines due at once are spread over iterations, not one pause.</summary>
    public const int FireBudget = 4096;

    private TimerEntry[] _heap = new TimerEntry[64];
    private int _count;

    public int Count => _count;

    /// <summary>Arms <paramref name="entry"/> for <paramref name="dueAt"/> (Stopwatch ticks), moving it if it is already armed.</summary>
    public void Schedule(TimerEntry entry, long dueAt)
    {
        if (entry.IsArmed)
        {
            long previous = entry.DueAt;
            entry.DueAt = dueAt;
            if (dueAt < previous)
                SiftUp(entry.HeapIndex);
            else
                SiftDown(entry.HeapIndex);
            return;
        }
        if (_count == _heap.Length)
            Array.Resize(ref _heap, _heap.Length * 2);
        entry.DueAt = dueAt;
        entry.HeapIndex = _count;
        _heap[_count++] = entry;
        SiftUp(entry.HeapIndex);
    }

    /// <summary>Runs <paramref name="callback"/> once <paramref name="delay"/> has passed (allocates: for the reactor's own periodic paths).</summary>
    public void Schedule(TimeSpan delay, Action callback) =>
        Schedule(new CallbackTimer(callback), Stopwatch.GetTimestamp() + (long)(delay.TotalSeconds * Stopwatch.Frequency));

    /// <summary>Disarms <paramref name="entry"/>; false when it was not armed.</summary>
    public bool Cancel(TimerEntry entry)
    {
        int index = entry.HeapIndex;
        if (index < 0)
            return false;
        entry.HeapIndex = -1;
        TimerEntry last = _heap[--_count];
        _heap[_count] = null!;
        if (index == _count)
            return true;
        _heap[index] = last;
        last.HeapIndex = index;
        if (index > 0 && last.DueAt < _heap[(index - 1) / Arity].DueAt)
            SiftUp(index);
        else
            SiftDown(index);
        return true;
    }

    /// <summary>Milliseconds until the nearest deadline (0 if overdue), or -1 when none is armed.</summary>
    public int MillisecondsUntilNext(long now)
    {
        if (_count == 0)
            return -1;
        long remaining = _heap[0].DueAt - now;
        return remaining <= 0 ? 0 : (int)Math.Min(int.MaxValue, (remaining * 1000 + Stopwatch.Frequency - 1) / Stopwatch.Frequency);
    }

    /// <summary>Fires the entries due at <paramref name="now"/>, earliest first, at most <see cref="FireBudget"/> of them.</summary>
    public void RunDue(long now)
    {
        for (int fired = 0; fired < FireBudget && _count > 0 && _heap[0].DueAt <= now; fired++)
        {
            TimerEntry due = _heap[0];
            Cancel(due);
            due.OnDue(now);
        }
    }

    private void SiftUp(int index)
    {
        TimerEntry entry = _heap[index];
        while (index > 0)
        {
            int parent = (index - 1) / Arity;
            TimerEntry above = _heap[parent];
            if (above.DueAt <= entry.DueAt)
                break;
            _heap[index] = above;
            above.HeapIndex = index;
            index = parent;
        }
        _heap[index] = entry;
        entry.HeapIndex = index;
    }

    private void SiftDown(int index)
    {
        TimerEntry entry = _heap[index];
        while (true)
        {
            int first = index * Arity + 1;
            if (first >= _count)
                break;
            int smallest = first;
            int end = Math.Min(first + Arity, _count);
            for (int child = first + 1; child < end; child++)
            {
                if (_heap[child].DueAt < _heap[smallest].DueAt)
                    smallest = child;
            }
            if (_heap[smallest].DueAt >= entry.DueAt)
                break;
            _heap[index] = _heap[smallest];
            _heap[index].HeapIndex = index;
            index = smallest;
        }
        _heap[index] = entry;
        entry.HeapIndex = index;
    }
}
