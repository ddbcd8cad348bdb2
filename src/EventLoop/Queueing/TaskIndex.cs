namespace EventLoop.Queueing;

/// <summary>
/// Numbered tasks by id. Ids are handed out in sequence from one base, so a task's slot is its offset:
/// pages of 4,096 slots, a page dropped as soon as its last task is gone. 8 bytes a task instead of a
/// dictionary entry's 24 plus its share of spare capacity, and a lookup is two array reads. A few old
/// tasks kept long (dead, long-delayed) pin only their own 32 KiB pages. Reactor-owned.
/// </summary>
internal sealed class TaskIndex(long firstNumber)
{
    private const int PageBits = 12;
    private const int PageSize = 1 << PageBits;

    private TaskRecord?[]?[] _pages = new TaskRecord?[]?[16];
    private int[] _live = new int[16];
    private long _newestPage = -1;

    public int Count { get; private set; }

    public void Add(TaskRecord task)
    {
        long offset = task.Number - firstNumber;
        long page = offset >> PageBits;
        if (page >= _pages.Length)
        {
            int length = (int)Math.Max(page + 1, _pages.Length * 2L);
            Array.Resize(ref _pages, length);
            Array.Resize(ref _live, length);
        }
        if (page != _newestPage)
        {
            if (_newestPage >= 0 && _live[_newestPage] == 0)
                _pages[_newestPage] = null; // every task of the page it leaves behind is gone already
            _newestPage = page;
        }
        (_pages[page] ??= new TaskRecord?[PageSize])[offset & (PageSize - 1)] = task;
        _live[page]++;
        Count++;
    }

    public TaskRecord? Find(long number)
    {
        long offset = number - firstNumber;
        if (offset < 0 || (offset >> PageBits) >= _pages.Length)
            return null;
        return _pages[offset >> PageBits]?[offset & (PageSize - 1)];
    }

    public void Remove(TaskRecord task)
    {
        long offset = task.Number - firstNumber;
        long page = offset >> PageBits;
        _pages[page]![offset & (PageSize - 1)] = null;
        Count--;
        if (--_live[page] == 0 && page != _newestPage)
            _pages[page] = null;
    }
}
