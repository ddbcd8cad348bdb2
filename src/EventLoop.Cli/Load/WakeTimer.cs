using System.Runtime.InteropServices;
using EventLoop.Native;

namespace EventLoop.Cli.Load;

/// <summary>
/// A timerfd watched by the load thread's multiplexer: it wakes the thread at a deadline with
/// microsecond precision, where epoll_wait's own timeout has millisecond granularity. An open-loop
/// request sent up to a millisecond late would add that to every corrected latency.
/// Owned by one load thread.
/// </summary>
internal sealed class WakeTimer : IDisposable
{
    private const int CLOCK_MONOTONIC = 1;
    private const int TFD_NONBLOCK = 0x800;
    private const int TFD_CLOEXEC = 0x80000;
    private const int PR_SET_TIMERSLACK = 29;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimerSpec
    {
        public long IntervalSeconds;
        public long IntervalNanoseconds;
        public long ValueSeconds;
        public long ValueNanoseconds;
    }

    [DllImport("libc", EntryPoint = "timerfd_create", SetLastError = true)]
    private static extern int TimerFdCreate(int clockId, int flags);

    [DllImport("libc", EntryPoint = "timerfd_settime", SetLastError = true)]
    private static extern int TimerFdSetTime(int fd, int flags, in TimerSpec newValue, IntPtr oldValue);

    [DllImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static extern int Prctl(int option, ulong argument);

    private static readonly double NanosecondsPerTick = 1e9 / System.Diagnostics.Stopwatch.Frequency;

    private long _armedFor = long.MinValue;

    public WakeTimer()
    {
        Fd = TimerFdCreate(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (Fd < 0)
            throw new InvalidOperationException($"timerfd_create failed: {Errno.Describe(Marshal.GetLastPInvokeError())}");
    }

    /// <summary>The descriptor to watch for <c>Read</c>.</summary>
    public int Fd { get; }

    /// <summary>
    /// Lets the kernel fire this thread's timers within 1 µs of their deadline instead of the
    /// default 50 µs slack. Affects the calling thread only.
    /// </summary>
    public static void TightenSlackForThisThread() => Prctl(PR_SET_TIMERSLACK, 1000);

    /// <summary>Arms the timer for <paramref name="deadline"/> (Stopwatch ticks), unless already armed for it.</summary>
    public void ArmFor(long deadline, long now)
    {
        if (deadline == _armedFor)
            return;
        _armedFor = deadline;
        // Relative arming needs no agreement between Stopwatch's clock and CLOCK_MONOTONIC;
        // a zero value would disarm, so the nearest deadline is 1 ns.
        long delay = Math.Max(1, (long)((deadline - now) * NanosecondsPerTick));
        var spec = new TimerSpec { ValueSeconds = delay / 1_000_000_000, ValueNanoseconds = delay % 1_000_000_000 };
        if (TimerFdSetTime(Fd, 0, spec, IntPtr.Zero) != 0)
            throw new InvalidOperationException($"timerfd_settime failed: {Errno.Describe(Marshal.GetLastPInvokeError())}");
    }

    /// <summary>Clears the expiry after the multiplexer reported the timer readable.</summary>
    public void Acknowledge()
    {
        Span<byte> expirations = stackalloc byte[8];
        Sockets.Read(Fd, expirations);
        _armedFor = long.MinValue;
    }

    public void Dispose() => Sockets.Close(Fd);
}
