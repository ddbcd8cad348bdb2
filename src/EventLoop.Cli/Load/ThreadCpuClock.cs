using System.Runtime.InteropServices;

namespace EventLoop.Cli.Load;

/// <summary>The CPU time the calling thread has used (CLOCK_THREAD_CPUTIME_ID), to tell how busy a load thread was.</summary>
internal static class ThreadCpuClock
{
    private const int CLOCK_THREAD_CPUTIME_ID = 3;

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clockId, out Timespec time);

    /// <summary>Seconds of CPU this thread has used so far.</summary>
    public static double Seconds() =>
        ClockGetTime(CLOCK_THREAD_CPUTIME_ID, out Timespec time) == 0 ? time.Seconds + time.Nanoseconds / 1e9 : 0;
}
