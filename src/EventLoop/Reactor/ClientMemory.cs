namespace EventLoop.Reactor;

/// <summary>
/// What every client connection holds together (buffered input, unsent output, queued requests, parked
/// state), kept as a running sum that <see cref="Connection.Hold"/> moves as buffers grow and shrink, and the
/// budget it must stay under (<c>--maxmemory-clients</c>). Over budget, the clients holding the most are
/// closed first until the sum is back under it. Owned by the reactor thread; other threads may read
/// <see cref="Held"/> and <see cref="Evictions"/> (single longs, atomic on 64-bit).
/// </summary>
internal sealed class ClientMemory(long budget, Action<string> log)
{
    // Among equals the newest goes first: it has had the least time to finish, and a buffer it just grew
    // has had the fewest pages touched.
    private static readonly Comparison<Connection> LargestFirst = (a, b) =>
        a.HeldBytes != b.HeldBytes ? b.HeldBytes.CompareTo(a.HeldBytes) : b.Id.CompareTo(a.Id);
    private readonly List<Connection> _candidates = [];
    private long _held;
    private long _evictions;

    /// <summary>The budget in bytes; 0: no limit.</summary>
    public long Budget { get; } = budget;

    /// <summary>Bytes held by all connections together.</summary>
    public long Held => Volatile.Read(ref _held);

    /// <summary>Clients closed for holding the most while the sum was over budget.</summary>
    public long Evictions => Volatile.Read(ref _evictions);

    public bool OverBudget => Budget > 0 && _held > Budget;

    public void Add(long delta) => _held += delta;

    /// <summary>
    /// Over budget: closes the clients holding the most, largest first, until the sum is under budget again.
    /// Only runs when over budget, so the scan of the open connections costs nothing in normal operation.
    /// Call it where closing any connection is safe (between events, not inside one connection's parsing).
    /// </summary>
    public void Enforce(ReactorLoop reactor)
    {
        if (!OverBudget)
            return;
        foreach (Connection connection in reactor.OpenConnections())
        {
            if (connection.HeldBytes > 0)
                _candidates.Add(connection);
        }
        _candidates.Sort(LargestFirst);
        foreach (Connection connection in _candidates)
        {
            if (!OverBudget)
                break;
            log($"evicting client {connection.Id}: it holds {connection.HeldBytes} bytes (input buffer {connection.InputCapacity}, " +
                $"output buffer {connection.OutputCapacity}, the rest queued requests); all clients hold {_held} bytes, " +
                $"over maxmemory-clients ({Budget})");
            _evictions++;
            reactor.Close(connection);
        }
        _candidates.Clear();
    }
}
