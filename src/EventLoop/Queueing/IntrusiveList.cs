namespace EventLoop.Queueing;

/// <summary>
/// The pair of link fields one intrusive list threads through its nodes: a node that belongs to several lists (a
/// lease is in its lane and in its connection's set) has a pair per list, and a struct naming each pair.
/// </summary>
internal interface IListLinks<T> where T : class
{
    static abstract ref T? Previous(T node);

    static abstract ref T? Next(T node);
}

/// <summary>
/// A doubly-linked list whose links live in its nodes: O(1) add at either end and removal from the middle, no node
/// allocation. <typeparamref name="TLinks"/> is a struct so the JIT specializes the code for each pair of fields.
/// Reactor-owned, as every list of the queue is.
/// </summary>
internal class IntrusiveList<T, TLinks> where T : class where TLinks : struct, IListLinks<T>
{
    private T? _last;

    public T? First { get; private set; }

    public int Count { get; private set; }

    public void AddLast(T node)
    {
        TLinks.Previous(node) = _last;
        TLinks.Next(node) = null;
        if (_last is null)
            First = node;
        else
            TLinks.Next(_last) = node;
        _last = node;
        Count++;
    }

    public void AddFirst(T node)
    {
        TLinks.Previous(node) = null;
        TLinks.Next(node) = First;
        if (First is null)
            _last = node;
        else
            TLinks.Previous(First) = node;
        First = node;
        Count++;
    }

    /// <summary>Takes out a node of this list (the caller knows it is in it).</summary>
    public void Remove(T node)
    {
        ref T? previous = ref TLinks.Previous(node);
        ref T? next = ref TLinks.Next(node);
        if (previous is null)
            First = next;
        else
            TLinks.Next(previous) = next;
        if (next is null)
            _last = previous;
        else
            TLinks.Previous(next) = previous;
        previous = next = null;
        Count--;
    }

    public T? TakeFirst()
    {
        T? first = First;
        if (first is not null)
            Remove(first);
        return first;
    }
}
