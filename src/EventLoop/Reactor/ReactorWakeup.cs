using EventLoop.Native;

namespace EventLoop.Reactor;

/// <summary>
/// Wakes the reactor out of its multiplexer wait from another thread, with an eventfd that is written
/// only when the reactor may actually be asleep: a busy reactor finds new completions on its own, so
/// workers finishing tasks back to back cost no syscall.
/// </summary>
/// <remarks>
/// The protocol: the reactor announces <see cref="PrepareToSleep"/> (a full fence), then re-checks its
/// inputs before waiting; a producer publishes its input, then calls <see cref="Wake"/>. Whichever runs
/// second sees the other's write, so a wake-up is never lost. The eventfd is created by and read by the
/// reactor; <see cref="Wake"/> is safe from any thread.
/// </remarks>
internal sealed class ReactorWakeup : IDisposable
{
    private int _sleeping;
    private long _signals;

    public ReactorWakeup() => Fd = EventFd.Create();

    /// <summary>The eventfd the reactor watches for readability.</summary>
    public int Fd { get; }

    /// <summary>How many times the eventfd was written.</summary>
    public long Signals => Interlocked.Read(ref _signals);

    /// <summary>Reactor: about to wait. Re-check inputs after this call and before waiting.</summary>
    public void PrepareToSleep() => Interlocked.Exchange(ref _sleeping, 1);

    /// <summary>Reactor: back from the wait.</summary>
    public void Awake() => Volatile.Write(ref _sleeping, 0);

    /// <summary>Any thread: input was published; writes the eventfd only if the reactor may be waiting.</summary>
    public void Wake()
    {
        if (Volatile.Read(ref _sleeping) == 1 && Interlocked.Exchange(ref _sleeping, 0) == 1)
        {
            Interlocked.Increment(ref _signals);
            EventFd.Signal(Fd);
        }
    }

    /// <summary>Reactor: the eventfd was readable; reset it.</summary>
    public void Drain() => EventFd.Drain(Fd);

    public void Dispose() => Sockets.Close(Fd);
}
