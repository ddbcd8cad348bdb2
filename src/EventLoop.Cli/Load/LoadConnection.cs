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

/// <summary>A request in flight: when it was meant to leave and when it did; in a lifecycle, which half it is.</summary>
/// <param name="IntendedAt">When it should have been sent; for a lifecycle's RESULT, when its SUBMIT should have been.</param>
/// <param name="SentAt">When it was handed to the kernel; for a lifecycle's RESULT, when its SUBMIT was.</param>
/// <param name="Tag">Lifecycle: the digits that open its payload, which the result must echo; 0 otherwise.</param>
/// <param name="AwaitsResult">Lifecycle: this is the RESULT, not the SUBMIT.</param>
internal readonly record struct InFlightRequest(long IntendedAt, long SentAt, long Tag = 0, bool AwaitsResult = false);

/// <summary>
/// One connection slot of a load thread: its socket, its reply scanner, and its requests in flight,
/// oldest first, so each reply is matched to its request in order.
/// Owned by one load thread; reused across reconnects, so nothing is allocated per request.
/// </summary>
internal sealed class LoadConnection
{
    private readonly InFlightRequest[] _inFlight;
    private int _oldest;

    /// <param name="scheduleIndex">Position among the thread's busy connections (its open-loop slot).</param>
    /// <param name="isIdle">An idle connection only holds its socket open; it has no in-flight storage.</param>
    /// <param name="pipeline">Most requests (or lifecycles) in flight at once.</param>
    /// <param name="lifecycle">The run's lifecycle shapes, or null when it sends requests.</param>
    public LoadConnection(int scheduleIndex, bool isIdle, int pipeline, LifecycleTemplate? lifecycle = null)
    {
        ScheduleIndex = scheduleIndex;
        IsIdle = isIdle;
        _inFlight = new InFlightRequest[isIdle ? 0 : pipeline];
        if (lifecycle is not null && !isIdle)
            Lifecycle = new LifecycleSlot(lifecycle, pipeline);
    }

    public int ScheduleIndex { get; }
    public bool IsIdle { get; }
    public int Fd = -1;
    public ConnectionState State;
    public long NotBefore;
    public long ConnectStartedAt;
    public RespReplyReader Replies;

    /// <summary>Lifecycle runs: the connection's send buffer, reply capture and RESULTs waiting to be sent; null otherwise.</summary>
    public LifecycleSlot? Lifecycle { get; }

    /// <summary>Waiting in the thread's list of connections to refill after this batch of events.</summary>
    public bool RefillQueued;

    /// <summary>At least one reply came on this slot (over any of its sockets).</summary>
    public bool WasAnswered;

    /// <summary>Open loop: the next round of this connection's schedule to send.</summary>
    public long NextRound;

    /// <summary>The unsent part of the last send (offsets into the thread's <see cref="RequestBatch"/>, or into the lifecycle's send buffer); empty when start == end.</summary>
    public int UnsentStart, UnsentEnd;

    /// <summary>Requests sent (or being sent) and not answered yet.</summary>
    public int InFlight { get; private set; }

    /// <summary>What the pipeline holds: requests in flight, and in a lifecycle run also the RESULTs waiting to be sent.</summary>
    public int Outstanding => InFlight + (Lifecycle?.Waiting ?? 0);
    public int Room => _inFlight.Length - Outstanding;
    public bool HasUnsent => UnsentStart != UnsentEnd;
    public InFlightRequest Oldest => _inFlight[_oldest];

    public void Push(in InFlightRequest request)
    {
        _inFlight[(_oldest + InFlight) % _inFlight.Length] = request;
        InFlight++;
    }

    public InFlightRequest Pop()
    {
        InFlightRequest oldest = _inFlight[_oldest];
        _oldest = (_oldest + 1) % _inFlight.Length;
        InFlight--;
        return oldest;
    }

    /// <summary>Forgets everything about the last socket (its requests in flight are lost with it).</summary>
    public void ResetSocketState()
    {
        Fd = -1;
        InFlight = 0;
        _oldest = 0;
        UnsentStart = UnsentEnd = 0;
        Replies.Reset();
        Lifecycle?.Reset();
    }
}
