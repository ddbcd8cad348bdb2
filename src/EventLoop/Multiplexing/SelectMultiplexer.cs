using EventLoop.Native;

namespace EventLoop.Multiplexing;

/// <summary>
/// select(2) through the C shim in native/select_shim.c: the oldest readiness API, kept to show
/// what the others improved on.
/// </summary>
/// <remarks>
/// Owned by the thread that waits on it. Registrations live in dense arrays (descriptor, interest)
/// that the shim turns into fd_sets on every wait, and the kernel scans every watched descriptor:
/// each wait costs O(watched) twice over, in the kernel and in the result scan. An fd_set is a fixed
/// bit array of FD_SETSIZE (1024) bits, so a descriptor at or above it cannot be watched at all;
/// <see cref="Register"/> refuses it instead of letting FD_SET write past the set. Descriptors
/// registered with <see cref="Interest.None"/> are in no set, so nothing is reported for them.
/// </remarks>
public sealed unsafe class SelectMultiplexer : IMultiplexer
{
    private readonly int _fdSetSize;
    private readonly int[] _slotOf; // descriptor → slot + 1 (0 = not registered); descriptors are < FD_SETSIZE
    private int[] _fds = new int[64];
    private byte[] _interest = new byte[64];
    private byte[] _ready = new byte[64];
    private int _count;
    private int _scanStart; // where the next result scan begins, so a full batch does not starve later slots

    /// <summary>Loads the select shim.</summary>
    /// <exception cref="MultiplexerException">libel_select.so is missing (build native/ with ./build.sh).</exception>
    public SelectMultiplexer()
    {
        SelectShim.EnsureLoaded();
        _fdSetSize = SelectShim.FdSetSize();
        _slotOf = new int[_fdSetSize];
    }

    /// <inheritdoc />
    public string Name => "select";

    /// <inheritdoc />
    public bool IsEdgeTriggered => false;

    /// <inheritdoc />
    public long SystemCalls { get; private set; }

    /// <inheritdoc />
    public void Register(int fd, Interest interest)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fd);
        if (fd >= _fdSetSize)
            throw new MultiplexerException(
                $"too many connections for the select backend: descriptor {fd} is at or above FD_SETSIZE ({_fdSetSize})");
        int slot = _slotOf[fd] - 1;
        if (slot < 0)
            slot = AddSlot(fd);
        _interest[slot] = (byte)interest;
    }

    /// <inheritdoc />
    public void Unregister(int fd)
    {
        if ((uint)fd >= (uint)_fdSetSize || _slotOf[fd] == 0)
            return;
        int slot = _slotOf[fd] - 1;
        int last = --_count;
        // Keep the arrays dense: the last registration moves into the hole.
        _fds[slot] = _fds[last];
        _interest[slot] = _interest[last];
        _slotOf[_fds[slot]] = slot + 1;
        _slotOf[fd] = 0;
    }

    /// <inheritdoc />
    public int Wait(Span<ReadyEvent> events, int timeoutMs)
    {
        int readyCount;
        SystemCalls++;
        fixed (int* fds = _fds)
        fixed (byte* interest = _interest)
        fixed (byte* ready = _ready)
            readyCount = SelectShim.Wait(fds, interest, _count, timeoutMs, ready);
        if (readyCount < 0)
            throw new MultiplexerException($"select failed: {Errno.Describe(-readyCount)}");
        return readyCount == 0 ? 0 : Collect(events, readyCount);
    }

    /// <summary>Copies up to <paramref name="events"/>.Length ready slots, starting where the last full batch stopped.</summary>
    private int Collect(Span<ReadyEvent> events, int readyCount)
    {
        int reported = 0, found = 0;
        for (int i = 0; i < _count && found < readyCount; i++)
        {
            int slot = (_scanStart + i) % _count;
            if (_ready[slot] == 0)
                continue;
            found++;
            if (reported == events.Length)
            {
                _scanStart = slot;
                return reported;
            }
            events[reported++] = new ReadyEvent(_fds[slot], (Interest)_ready[slot]);
        }
        return reported;
    }

    private int AddSlot(int fd)
    {
        if (_count == _fds.Length)
        {
            int size = _fds.Length * 2;
            Array.Resize(ref _fds, size);
            Array.Resize(ref _interest, size);
            Array.Resize(ref _ready, size);
        }
        _fds[_count] = fd;
        _slotOf[fd] = _count + 1;
        return _count++;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        // Nothing to release: select keeps no kernel object between calls.
    }
}
