namespace EventLoop.Protocol;

/// <summary>
/// Limits a peer cannot exceed when sending requests; the defaults match the server's documented defaults.
/// </summary>
/// <remarks>Immutable: shared freely between threads.</remarks>
public sealed record ProtocolLimits
{
    /// <summary>Largest bulk-string argument in bytes (<c>--max-arg-bytes</c>, default 16 MiB).</summary>
    public int MaxArgBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>Most arguments in one multibulk request (<c>--max-args</c>, default 1,048,576).</summary>
    public int MaxArgs { get; init; } = 1024 * 1024;

    /// <summary>Longest inline request line in bytes, excluding its <c>\n</c> (default 64 KiB).</summary>
    public int MaxInlineBytes { get; init; } = 64 * 1024;

    /// <summary>Most arguments in one request before AUTH, when a password is set (<c>--max-unauth-args</c>, default 10 as in Redis).</summary>
    public int MaxUnauthenticatedArgs { get; init; } = 10;

    /// <summary>
    /// Largest bulk string, and longest inline line, before AUTH when a password is set
    /// (<c>--max-unauth-arg-bytes</c>, default 16 KiB as in Redis).
    /// </summary>
    public int MaxUnauthenticatedBulkBytes { get; init; } = 16 * 1024;
}
