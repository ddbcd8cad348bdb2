namespace EventLoop.Multiplexing;

/// <summary>What a descriptor is watched for, and what a wait reports as ready.</summary>
[Flags]
public enum Interest : byte
{
    /// <summary>Registered but not watched (a paused connection).</summary>
    None = 0,
    /// <summary>Readable, or the peer closed, or an error is pending.</summary>
    Read = 1,
    /// <summary>Writable, or an error is pending.</summary>
    Write = 2,
}

/// <summary>One descriptor reported ready by <see cref="IMultiplexer.Wait"/>.</summary>
/// <remarks>Errors and hang-ups are reported as <c>Read | Write</c> restricted to what was asked for,
/// so the owner finds them through the ordinary read or write path (the call returns the error).</remarks>
public readonly record struct ReadyEvent(int Fd, Interest Ready);

/// <summary>
/// The seam between the reactor and the kernel's readiness API: one file per backend
/// (epoll, edge-triggered epoll, poll, select, io_uring), chosen at run time.
/// </summary>
/// <remarks>
/// Owned by one thread (the reactor, or a load-generator thread): no member is thread-safe.
/// Registrations are keyed by descriptor, as in Redis's ae: <see cref="Register"/> on a descriptor
/// already registered replaces its interest, so the caller never tracks ADD versus MOD.
/// </remarks>
public interface IMultiplexer : IDisposable
{
    /// <summary>The backend's name as the <c>--backend</c> option spells it.</summary>
    string Name { get; }

    /// <summary>
    /// True when readiness is reported once per change (edge-triggered): the owner must then read
    /// and accept until EAGAIN, or remember itself that a descriptor still has data.
    /// </summary>
    bool IsEdgeTriggered { get; }

    /// <summary>
    /// System calls made so far: waits, and registrations that reached the kernel (poll and select
    /// keep theirs in user space; io_uring submits them with the wait). For INFO's <c>syscalls</c>;
    /// another thread may read it, a 64-bit read being atomic.
    /// </summary>
    long SystemCalls { get; }

    /// <summary>Watches <paramref name="fd"/> for <paramref name="interest"/>, adding it or replacing its interest.</summary>
    /// <exception cref="MultiplexerException">The backend cannot watch this descriptor (for select: fd ≥ FD_SETSIZE).</exception>
    void Register(int fd, Interest interest);

    /// <summary>Stops watching <paramref name="fd"/>. Call before closing it. Unknown descriptors are ignored.</summary>
    void Unregister(int fd);

    /// <summary>
    /// Waits up to <paramref name="timeoutMs"/> milliseconds (-1: forever, 0: poll) and fills
    /// <paramref name="events"/> with ready descriptors. Returns how many; 0 on timeout or EINTR.
    /// </summary>
    int Wait(Span<ReadyEvent> events, int timeoutMs);
}

/// <summary>A backend refused an operation (unsupported here, or a descriptor it cannot watch).</summary>
public sealed class MultiplexerException(string message) : Exception(message);
