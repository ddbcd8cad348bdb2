using System.Runtime.InteropServices;

namespace EventLoop.Cli.Load;

/// <summary>
/// The open-file limit (RLIMIT_NOFILE). A process may raise its soft limit up to the hard one
/// without privileges, which is what thousands of connections need. Tmds.LibC has no rlimit calls.
/// </summary>
internal static class FileLimit
{
    private const int RLIMIT_NOFILE = 7; // Linux, all common architectures

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Soft;
        public ulong Hard;
    }

    [DllImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static extern int GetRLimit(int resource, out RLimit limit);

    [DllImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static extern int SetRLimit(int resource, in RLimit limit);

    /// <summary>
    /// Raises the soft limit to the hard limit and returns the new soft limit.
    /// Throws when the limits cannot be read.
    /// </summary>
    public static long RaiseToHardLimit()
    {
        if (GetRLimit(RLIMIT_NOFILE, out RLimit limit) != 0)
            throw new InvalidOperationException($"getrlimit(RLIMIT_NOFILE) failed: errno {Marshal.GetLastPInvokeError()}");
        if (limit.Soft < limit.Hard)
        {
            var raised = limit with { Soft = limit.Hard };
            if (SetRLimit(RLIMIT_NOFILE, raised) == 0)
                limit = raised;
        }
        return limit.Soft > long.MaxValue ? long.MaxValue : (long)limit.Soft;
    }
}
