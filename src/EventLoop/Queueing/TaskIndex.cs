namespace EventLoop.Queueing;

/// <summary>
/// Numbered tasks by id. Ids are handed out in sequence from one base, so a task's slot is its offset:
/// pages of 4,096 slots, a page dropped as soon as its last task is gone. 8 bytes a task instead of a
/// dictionary entry's 24 plus its share of spare capacity, and a lookup is two array reads. A few old
/// tasks kept long (dead, long-delayed) pin only their own 32 KiB pages. Tasks recovered from the journal
/// carry ids of earlier runs, far below this run's base: they live in pages of the same size found through
/// a dictionary by page number, so any id range costs only the pages it uses. Reactor-owned.
/// </summary>
internal sealed class TaskIndex(long firstNumber)
{
    private readonly Dictionary<long, OlderPage> _older = [];

    private const int PageBits = 12;
    private const int PageSize = 1 << PageBits;

    private TaskRecord?[]?[] _pages = new TaskRecord?[]?[16];
    private int[] _live = new int[16];
    private long _newestPage = -1;

    public int Count { get; private set; }

    /// <summary>The lowest number the dense pages hold; lower ones (recovered) are in the older pages.</summary>
    public long FirstNumber => firstNumber;

    /// <summary>Adds a recovered task (an id from an earlier run, or any id below or far above this run's base).</summary>
    public void AddOlder(TaskRecord task)
    {
        long page = task.Number >> PageBits;
        if (!_older.TryGetValue(page, out OlderPage? older))
            _older.Add(page, older = new OlderPage());
        older.Slots[task.Number & (PageSize - 1)] = task;
        older.Live++;
        Count++;
    }

    /// <summary>Moves the dense range's base past recovered ids (the clock went back); only while it is empty.</summary>
    public void Rebase(long first)
    {
        if (Count != _older.Values.Sum(o => o.Live))
            throw new InvalidOperationException("the dense range is in use");
        firstNumber = first;
    }

    /// <summary>Page numbers of the older pages, for a walk that tolerates changes between steps.</summary>
    public long[] OlderPages() => [.. _older.Keys];

    /// <summary>The slots of older page <paramref name="page"/>, or null once it is gone.</summary>
    public TaskRecord?[]? OlderSlots(long page) => _older.GetValueOrDefault(page)?.Slots;

    /// <summary>Pages of the dense range (a walk reads it again at each step: it may grow meanwhile).</summary>
    public int PageCount => _pages.Length;

    public TaskRecord?[]? Page(int page) => _pages[page];

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
        TaskRecord? dense = offset < 0 || (offset >> PageBits) >= _pages.Length ? null : _pages[offset >> PageBits]?[offset & (PageSize - 1)];
        if (dense is not null || _older.Count == 0)
            return dense;
        return _older.GetValueOrDefault(number >> PageBits)?.Slots[number & (PageSize - 1)];
    }

    public void Remove(TaskRecord task)
    {
        long offset = task.Number - firstNumber;
        if (offset < 0 || (offset >> PageBits) >= _pages.Length || _pages[offset >> PageBits]?[offset & (PageSize - 1)] != task)
        {
            RemoveOlder(task);
            return;
        }
        long page = offset >> PageBits;
        _pages[page]![offset & (PageSize - 1)] = null;
        Count--;
        if (--_live[page] == 0 && page != _newestPage)
            _pages[page] = null;
    }

    private void RemoveOlder(TaskRecord task)
    {
        long page = task.Number >> PageBits;
        OlderPage older = _older[page];
        older.Slots[task.Number & (PageSize - 1)] = null;
        Count--;
        if (--older.Live == 0)
            _older.Remove(page);
    }

    private sealed class OlderPage
    {
        public readonly TaskRecord?[] Slots = new TaskRecord?[PageSize];
        public int Live;
    }
}
