using System.Buffers;
using EventLoop.Buffers;
using EventLoop.Multiplexing;
using EventLoop.Workers;

namespace EventLoop.Reactor;

/// <summary>
/// One client connection: its descriptor, partial input, unsent output and the replies it is owed in
/// request order. Owned by the reactor thread; nothing here is touched by any other thread.
/// </summary>
/// <remarks>
/// Replies leave in request order whatever order tasks finish in: every request appends an entry to the
/// pending list (a task's work item, or an inline reply placed behind a pending task), and only the
/// complete entries at its head are moved to <see cref="Output"/>. Both buffers hand their arrays back
/// to the pool when empty, so an idle connection holds no buffer at all.
/// </remarks>
internal sealed class Connection(int fd, long id, long connectedAt, ArrayPool<byte> buffers)
{
    public int Fd { get; } = fd;

    /// <summary>Unique for the server's lifetime (CLIENT ID); descriptors are reused, ids are not.</summary>
    public long Id { get; } = id;

    /// <summary>Reactor clock (Stopwatch ticks) of the last read; drives the idle timeout.</summary>
    public long LastActiveAt = connectedAt;

    /// <summary>CLIENT SETNAME.</summary>
    public string? Name;

    private PooledBuffer? _input;
    private PooledBuffer? _output;

    /// <summary>Bytes of an incomplete request carried to the next read.</summary>
    /// <remarks>Created on first use, like <see cref="Output"/>: a connection that has never needed a buffer holds no buffer object either.</remarks>
    public PooledBuffer Input => _input ??= new PooledBuffer(buffers);

    public int InputLength => _input?.Length ?? 0;

    /// <summary>Parsing <see cref="Input"/> again is pointless until it holds this many bytes (the parser's hint).</summary>
    public int InputNeeded;

    /// <summary>Encoded replies not yet sent.</summary>
    public PooledBuffer Output => _output ??= new PooledBuffer(buffers);

    public int OutputLength => _output?.Length ?? 0;

    /// <summary>Hands a partial request's buffer back to the pool.</summary>
    public void ReleaseInput() => _input?.Release();

    /// <summary>The larger of the two buffers' arrays, in bytes (0 when it holds none).</summary>
    public int LargestBuffer => Math.Max(_input?.Capacity ?? 0, _output?.Capacity ?? 0);

    /// <summary>Hands both buffers back to the pool (the connection is closing).</summary>
    public void ReleaseBuffers()
    {
        _input?.Release();
        _output?.Release();
    }

    /// <summary>Oldest reply owed; its successors follow <see cref="WorkItem.NextOnConnection"/>.</summary>
    public WorkItem? FirstPending;

    public WorkItem? LastPending;

    /// <summary>Entries in the pending list (requests in flight, from the client's point of view).</summary>
    public int PendingCount;

    /// <summary>What the multiplexer currently watches for.</summary>
    public Interest Interest = Interest.Read;

    /// <summary>The last send left bytes behind: wait for writability.</summary>
    public bool AwaitingWritable;

    /// <summary>Queued for <c>FlushPendingWrites</c> before the next wait.</summary>
    public bool InFlushList;

    /// <summary>The peer shut down its sending side (read returned 0): answer what it sent, then close.</summary>
    public bool InputEnded;

    /// <summary>Close once every owed reply is sent (QUIT, a protocol error, shutdown).</summary>
    public bool CloseAfterReplies;

    /// <summary>Its newest request waits for room in the ring; reading is paused meanwhile.</summary>
    public bool Stalled;

    public bool Closed;

    /// <summary>
    /// Reactor clock until which a finished connection lingers: every owed reply is sent and our side is
    /// shut down, and its input is read and discarded until the peer closes; 0 = not lingering.
    /// </summary>
    public long LingerUntil;

    /// <summary>Tasks this connection fetched and holds (null until its first FETCH): lost at once if it closes.</summary>
    public Queueing.LeaseSet? Leases;

    /// <summary>AUTH succeeded, or no password is required.</summary>
    public bool Authenticated;

    /// <summary>Reactor clock when <see cref="Input"/> last went from empty to holding a partial request (slow-loris check).</summary>
    public long IncompleteSince;

    public void AppendPending(WorkItem item)
    {
        item.NextOnConnection = null;
        if (LastPending is null)
            FirstPending = item;
        else
            LastPending.NextOnConnection = item;
        LastPending = item;
        PendingCount++;
    }

    /// <summary>Puts <paramref name="replacement"/> where <paramref name="item"/> stood (after <paramref name="previous"/>, or first).</summary>
    public void ReplacePending(WorkItem? previous, WorkItem item, WorkItem replacement)
    {
        replacement.NextOnConnection = item.NextOnConnection;
        item.NextOnConnection = null;
        if (previous is null)
            FirstPending = replacement;
        else
            previous.NextOnConnection = replacement;
        if (LastPending == item)
            LastPending = replacement;
    }

    /// <summary>Removes and returns the oldest pending entry.</summary>
    public WorkItem TakeFirstPending()
    {
        WorkItem first = FirstPending!;
        FirstPending = first.NextOnConnection;
        if (FirstPending is null)
            LastPending = null;
        first.NextOnConnection = null;
        PendingCount--;
        return first;
    }
}
