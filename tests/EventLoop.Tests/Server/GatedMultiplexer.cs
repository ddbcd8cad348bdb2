using EventLoop.Multiplexing;

namespace EventLoop.Tests.Server;

/// <summary>
/// A real backend with a gate in front of its wait: a test holds the reactor just before it waits, lets
/// several peers' data arrive, then releases it, so that one wait reports all of them in one batch.
/// </summary>
/// <remarks>
/// <see cref="Register"/>, <see cref="Unregister"/> and <see cref="Wait"/> run on the reactor thread;
/// <see cref="Hold"/>, <see cref="WaitUntilHeld"/>, <see cref="Release"/>, <see cref="Open"/> and
/// <see cref="NewestDescriptor"/> are for the test thread. The two meet only through the events and one volatile field.
/// </remarks>
internal sealed class GatedMultiplexer(IMultiplexer inner) : IMultiplexer
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly ManualResetEventSlim _open = new(initialState: true);
    private readonly ManualResetEventSlim _held = new();
    private readonly ManualResetEventSlim _released = new();
    private readonly HashSet<int> _registered = [];
    private ReadyEvent[] _releasedBatch = [];
    private int _newestDescriptor = -1;

    public string Name => inner.Name;

    public bool IsEdgeTriggered => inner.IsEdgeTriggered;

    public long SystemCalls => inner.SystemCalls;

    /// <summary>The descriptor added last (re-registrations do not count): after a round trip on a new connection, its server end.</summary>
    public int NewestDescriptor => Volatile.Read(ref _newestDescriptor);

    public void Register(int fd, Interest interest)
    {
        inner.Register(fd, interest);
        if (_registered.Add(fd))
            Volatile.Write(ref _newestDescriptor, fd);
    }

    public void Unregister(int fd)
    {
        _registered.Remove(fd);
        inner.Unregister(fd);
    }

    public int Wait(Span<ReadyEvent> events, int timeoutMs)
    {
        if (_open.IsSet)
            return inner.Wait(events, timeoutMs);
        _held.Set();
        _open.Wait();
        int count = inner.Wait(events, timeoutMs);
        _releasedBatch = events[..count].ToArray();
        _released.Set();
        return count;
    }

    /// <summary>Closes the gate: the reactor's next wait stops in front of it until <see cref="Release"/>.</summary>
    public void Hold()
    {
        _held.Reset();
        _released.Reset();
        _open.Reset();
    }

    /// <summary>Returns once the reactor stands at the gate (give it a reason to loop, or it arrives with its next timer).</summary>
    public void WaitUntilHeld()
    {
        if (!_held.Wait(Patience))
            throw new TimeoutException("the reactor did not reach its next wait");
    }

    /// <summary>Opens the gate and returns what the wait behind it reported, in the order the backend reported it.</summary>
    public ReadyEvent[] Release()
    {
        _open.Set();
        if (!_released.Wait(Patience))
            throw new TimeoutException("the released wait did not return");
        return _releasedBatch;
    }

    /// <summary>Opens the gate without waiting for what the wait reports: a failed test must not leave the reactor parked.</summary>
    public void Open() => _open.Set();

    public void Dispose()
    {
        _open.Set();
        inner.Dispose();
    }
}
