using System.Runtime.InteropServices;

namespace EventLoop.Native;

/// <summary>The errno values the event loop reacts to (Linux x86-64/arm64 numbering).</summary>
internal static class Errno
{
    public const int EINTR = 4;
    public const int EBADF = 9;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EFAULT = 14;
    public const int EEXIST = 17;
    public const int EINVAL = 22;
    public const int ENFILE = 23;
    public const int EMFILE = 24;
    public const int EPIPE = 32;
    public const int ENOSYS = 38;
    public const int ECONNABORTED = 103;
    public const int ECONNRESET = 104;
    public const int ENOBUFS = 105;
    public const int ETIMEDOUT = 110;
    public const int ECONNREFUSED = 111;
    public const int EINPROGRESS = 115;
    public const int EPERM = 1;
    public const int ENOENT = 2;

    /// <summary>The calling thread's errno after the last Tmds.LibC call.</summary>
    public static int Last => Tmds.Linux.LibC.errno;

    public static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
}
