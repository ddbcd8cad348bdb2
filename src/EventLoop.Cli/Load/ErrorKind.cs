using EventLoop.Native;

namespace EventLoop.Cli.Load;

/// <summary>What went wrong, as the report counts it.</summary>
public enum ErrorKind
{
    /// <summary>The server refused the connection (ECONNREFUSED).</summary>
    Refused,
    /// <summary>The connection was reset (ECONNRESET, EPIPE, ECONNABORTED).</summary>
    Reset,
    /// <summary>The server closed the connection (end of stream).</summary>
    Closed,
    /// <summary>A connect or a reply took longer than <c>--timeout</c>.</summary>
    Timeout,
    /// <summary>The server answered a measured request (in a lifecycle: its SUBMIT or RESULT) with a RESP error reply, -PENDING aside.</summary>
    ErrorReply,
    /// <summary>Lifecycle: a RESULT that is not the payload, or a SUBMIT answered with something other than an id.</summary>
    Mismatch,
    /// <summary>Lifecycle: RESULT answered -PENDING: the task did not finish within <c>--result-timeout</c>.</summary>
    Pending,
    /// <summary>Lifecycle: RESULT answered nil: the server does not know the id SUBMIT returned.</summary>
    Nil,
    /// <summary>The server sent bytes that are not a RESP reply, or a reply nobody asked for.</summary>
    Protocol,
    /// <summary>Any other socket error (the report's first-error message names it).</summary>
    Other,
}

/// <summary>Error kinds by errno and by name.</summary>
internal static class ErrorKinds
{
    public static readonly ErrorKind[] All = Enum.GetValues<ErrorKind>();

    public static ErrorKind FromErrno(int errno) => errno switch
    {
        Errno.ECONNREFUSED => ErrorKind.Refused,
        Errno.ECONNRESET or Errno.EPIPE or Errno.ECONNABORTED => ErrorKind.Reset,
        Errno.ETIMEDOUT => ErrorKind.Timeout,
        _ => ErrorKind.Other,
    };

    /// <summary>The snake_case name used in the JSON report and the summary.</summary>
    public static string Name(ErrorKind kind) => kind switch
    {
        ErrorKind.Refused => "refused",
        ErrorKind.Reset => "reset",
        ErrorKind.Closed => "closed",
        ErrorKind.Timeout => "timeout",
        ErrorKind.ErrorReply => "error_reply",
        ErrorKind.Mismatch => "mismatch",
        ErrorKind.Pending => "pending",
        ErrorKind.Nil => "nil",
        ErrorKind.Protocol => "protocol",
        _ => "other",
    };
}
