using EventLoop.Client;

namespace EventLoop.Cli.Load;

/// <summary>Where a load connection is in its life.</summary>
internal enum ConnectionState : byte
{
    /// <summary>Not connected; queued to connect (again) no earlier than <see cref="LoadConnection.NotBefore"/>.</summary>
    Waiting,
    /// <summary>A non-blocking connect is in progress; the socket is watched for Write.</summary>
    Connecting,
    /// <summary>Connected; the socket is watched for Read (and Write while a send is unfinished).</summary>
    Open,
}

/// <summary>
/// One connection slot of a load thread: its socket, its reply scanner, and the send times of its
/// requests in flight, oldest first, so each reply is matched to its request in order.
/// Owned by one load thread; reused across reconnects, so nothing is allocated per request.
/// </summary>
internal sealed class LoadConnection
{
    private readonly long[] _intendedAt; // when each request in flight should have been sent
    private readonly long[] _sentAt;     // when it was handed to the kernel
    private int _oldest;

    /// <param name="scheduleIndex">Position among the thread's busy connections (its open-loop slot).</param>
    /// <param name="isIdle">An idle connection only holds its socket open; it has no in-flight storage.</param>
    /// <param name="pipeline">Most requests in flight at once.</param>
    public LoadConnection(int scheduleIndex, bool isIdle, int pipeline)
    {
        ScheduleIndex = scheduleIndex;
        IsIdle = isIdle;
        int capacity = isIdle ? 0 : pipeline;
        _intendedAt = new long[capacity];
        _sentAt = new long[capacity];
    }

    public int ScheduleIndex { get; }
    public bool IsIdle { get; }
    public int Fd = -1;
    public ConnectionState State;
    public long NotBefore;
    public long ConnectStartedAt;
    public RespReplyReader Replies;

    /// <summary>Waiting in the thread's list of connections to refill after this batch of events.</summary>
    public bool RefillQueued;

    /// <summary>At least one reply came on this slot (over any of its sockets).</summary>
    public bool WasAnswered;

    /// <summary>Open loop: the next round of this connection's schedule to send.</summary>
    public long NextRound;

    /// <summary>The unsent part of the last batch (offsets into the thread's <see cref="RequestBatch"/>); empty when start == end.</summary>
    public int UnsentStart, UnsentEnd;

    public int InFlight { get; private set; }
    public int Room => _sentAt.Length - InFlight;
    public bool HasUnsent => UnsentStart != UnsentEnd;
    public long OldestSentAt => _sentAt[_oldest];

    public void Push(long intendedAt, long sentAt)
    {
        int slot = (_oldest + InFlight) % _sentAt.Length;
        _intendedAt[slot] = intendedAt;
        _sentAt[slot] = sentAt;
        InFlight++;
    }

    public void Pop(out long intendedAt, out long sentAt)
    {
        intendedAt = _intendedAt[_oldest];
        sentAt = _sentAt[_oldest];
        _oldest = (_oldest + 1) % _sentAt.Length;
        InFlight--;
    }

    /// <summary>Forgets everything about the last socket (its requests in flight are lost with it).</summary>
    public void ResetSocketState()
    {
        Fd = -1;
        InFlight = 0;
        _oldest = 0;
        UnsentStart = UnsentEnd = 0;
        Replies.Reset();
    }
}
