using EventLoop.Multiplexing;

namespace EventLoop.Reactor;

/// <summary>
/// What the reactor's loop does, counted as it happens. Written by the reactor thread only; other
/// threads (INFO runs on the reactor, metrics observers do not) read single fields, which is atomic for longs on 64-bit.
/// </summary>
internal sealed class ReactorStats(IMultiplexer multiplexer)
{
    public long Iterations;
    public long EventsReturned;
    public long Wakeups;
    public long ReadCalls;
    public long WriteCalls;
    public long AcceptCalls;
    public long InterestChanges;
    public long BytesRead;
    public long BytesWritten;
    public long Commands;
    public long TasksSubmitted;
    public long TasksCompleted;
    public long RingFullStalls;
    public long InflightPauses;
    public long ConnectionsAccepted;
    public long ConnectionsRejected;
    public long ConnectionsClosed;
    public long ProtocolErrors;
    public long OutputLimitDisconnects;
    public long IdleTimeoutDisconnects;
    public long RequestTimeoutDisconnects;
    public long TaskTimeouts;
    public long DescriptorExhaustions;
    public int ConnectedClients;

    /// <summary>
    /// System calls the loop made: the multiplexer's own (waits, and registrations where they reach the
    /// kernel), reads, writes, accepts and eventfd drains. Socket set-up and close are not counted.
    /// </summary>
    public long Syscalls => multiplexer.SystemCalls + ReadCalls + WriteCalls + AcceptCalls + Wakeups;
}
