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

    /// <summary>
    /// A heap position: the due time beside the entry, so sifting compares within the array (four siblings'
    /// times on one cache line) instead of reading each entry, and a store is a plain struct copy, without the
    /// covariance check a store into an array of a non-sealed class costs.
    /// </summary>
    private struct Slot
    {
        public long DueAt;
        public TimerEntry Entry;
    }

    private Slot[] _heap = new Slot[64];
    private int _count;

    public int Count => _count;

    /// <summary>Arms <paramref name="entry"/> for <paramref name="dueAt"/> (Stopwatch ticks), moving it if it is already armed.</summary>
    public void Schedule(TimerEntry entry, long dueAt)
    {
        long previous = entry.DueAt;
        entry.DueAt = dueAt;
        if (entry.IsArmed)
        {
            _heap[entry.HeapIndex].DueAt = dueAt;
            if (dueAt < previous)
                SiftUp(entry.HeapIndex);
            else
                SiftDown(entry.HeapIndex);
            return;
        }
        if (_count == _heap.Length)
            Array.Resize(ref _heap, _heap.Length * 2);
        _heap[_count] = new Slot { DueAt = dueAt, Entry = entry };
        SiftUp(_count++);
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
        Slot last = _heap[--_count];
        _heap[_count] = default;
        if (index == _count)
            return true;
        _heap[index] = last;
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
            TimerEntry due = _heap[0].Entry;
            Cancel(due);
            due.OnDue(now);
        }
    }

    /// <summary>Moves the slot at <paramref name="index"/> up to its place; every slot moved learns its new index.</summary>
    private void SiftUp(int index)
    {
        Slot moving = _heap[index];
        while (index > 0)
        {
            int parent = (index - 1) / Arity;
            if (_heap[parent].DueAt <= moving.DueAt)
                break;
            Place(index, _heap[parent]);
            index = parent;
        }
        Place(index, moving);
    }

    private void SiftDown(int index)
    {
        Slot moving = _heap[index];
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
            if (_heap[smallest].DueAt >= moving.DueAt)
                break;
            Place(index, _heap[smallest]);
            index = smallest;
        }
        Place(index, moving);
    }

    private void Place(int index, Slot slot)
    {
        _heap[index] = slot;
        slot.Entry.HeapIndex = index;
    }
}
