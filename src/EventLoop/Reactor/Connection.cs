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
/// What it holds (<see cref="HeldBytes"/>) is counted as it changes, towards the budget of all clients
/// (<see cref="ClientMemory"/>): both buffers report their arrays' sizes, and queued requests their
/// buffers' when they are queued. <see cref="Hold"/> is the hook for anything else a connection keeps.
/// </remarks>
internal sealed class Connection(int fd, long id, long connectedAt, ArrayPool<byte> buffers, ClientMemory memory) : IMemoryAccount
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
    // Set once the connection has let go of everything: later changes are not counted any more.
    private bool _accountClosed;

    /// <summary>Bytes of an incomplete request carried to the next read.</summary>
    /// <remarks>Created on first use, like <see cref="Output"/>: a connection that has never needed a buffer holds no buffer object either.</remarks>
    public PooledBuffer Input => _input ??= new PooledBuffer(buffers, account: this);

    public int InputLength => _input?.Length ?? 0;

    /// <summary>Parsing <see cref="Input"/> again is pointless until it holds this many bytes (the parser's hint).</summary>
    public int InputNeeded;

    /// <summary>Encoded replies not yet sent.</summary>
    public PooledBuffer Output => _output ??= new PooledBuffer(buffers, account: this);

    public int OutputLength => _output?.Length ?? 0;

    /// <summary>Hands a partial request's buffer back to the pool.</summary>
    public void ReleaseInput() => _input?.Release();

    public int InputCapacity => _input?.Capacity ?? 0;

    public int OutputCapacity => _output?.Capacity ?? 0;

    /// <summary>The larger of the two buffers' arrays, in bytes (0 when it holds none).</summary>
    public int LargestBuffer => Math.Max(InputCapacity, OutputCapacity);

    /// <summary>Bytes this connection holds: its buffers' arrays, its queued requests, and whatever <see cref="Hold"/> added.</summary>
    public long HeldBytes { get; private set; }

    /// <summary>
    /// Counts <paramref name="bytes"/> more (or, negative, fewer) as held by this connection, towards
    /// <c>--maxmemory-clients</c>. The hook for state kept on a connection's behalf beyond its buffers
    /// (a parked <c>RESULT … TIMEOUT</c> or <c>FETCH … BLOCK</c>): add what it holds when it starts holding
    /// it and subtract the same when it lets go. Everything still counted is given back when the connection
    /// closes, and nothing is counted after that, so a late release after the close is harmless.
    /// </summary>
    public void Hold(long bytes)
    {
        if (_accountClosed)
            return;
        HeldBytes += bytes;
        memory.Add(bytes);
    }

    void IMemoryAccount.Resized(int delta) => Hold(delta);

    /// <summary>Hands both buffers back to the pool and stops counting anything as held (the connection is closing).</summary>
    public void ReleaseBuffers()
    {
        _input?.Release();
        _output?.Release();
        Hold(-HeldBytes);
        _accountClosed = true;
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

    /// <summary>Its requests parked on the task queue (RESULT … TIMEOUT, WAIT, FETCH … BLOCK).</summary>
    public int ParkedRequests;

    /// <summary>Tasks this connection fetched and holds (null until its first FETCH): lost at once if it closes.</summary>
    public Queueing.LeaseSet? Leases;

    /// <summary>AUTH succeeded, or no password is required.</summary>
    public bool Authenticated;

    /// <summary>Reactor clock when <see cref="Input"/> last went from empty to holding a partial request (slow-loris check).</summary>
    public long IncompleteSince;

    public void AppendPending(WorkItem item)
    {
        // A request's buffers are counted while it is queued here. Later growth (its reply, written on a
        // worker) is counted once it reaches the output: a worker cannot touch the reactor's sum.
        item.HeldBytes = item.BufferBytes;
        Hold(item.HeldBytes);
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
        replacement.HeldBytes = item.HeldBytes; // counted until the replacement leaves the list
        item.HeldBytes = 0;
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
        Hold(-first.HeldBytes);
        first.HeldBytes = 0;
        PendingCount--;
        return first;
    }
}
