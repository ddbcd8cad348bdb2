using System.Buffers.Binary;
using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace EventLoop.Stores.Postgres;

/// <summary>
/// A schedule's firing is stored under a number derived from its firing id <c>name@fire-ms</c> (the first bits of its
/// SHA-256), so every node computes the same row id for the same firing: <c>INSERT … ON CONFLICT DO NOTHING</c> on the
/// primary key cannot store a firing twice, and every verb that takes an id accepts <c>name@fire-ms</c> as memory does
/// (the replies show the number). Sequence ids (the first start's ms × 2²⁰) stay below 2⁶² until the year 2109;
/// firings live above it, so the two never meet.
/// </summary>
internal static class FiringIds
{
    private const long FiringBase = 1L << 62;
    /// <summary>A schedule name (at most 128 bytes), '@', and a Unix ms (at most 20 digits).</summary>
    private const int MaxLength = 128 + 1 + 20;

    public static long Of(string schedule, long fireMs) =>
        Of(Encoding.UTF8.GetBytes(schedule + "@" + fireMs.ToString(CultureInfo.InvariantCulture)));

    /// <summary>True when <paramref name="id"/> is shaped as a firing id (one '@' after a name, decimal ms after it).</summary>
    public static bool TryParse(ReadOnlySpan<byte> id, out long number)
    {
        number = 0;
        int at = id.IndexOf((byte)'@');
        if (at <= 0 || id.Length > MaxLength || id[(at + 1)..].Contains((byte)'@'))
            return false;
        ReadOnlySpan<byte> ms = id[(at + 1)..];
        if (!Utf8Parser.TryParse(ms, out long _, out int consumed) || consumed != ms.Length || ms[0] is < (byte)'0' or > (byte)'9')
            return false;
        number = Of(id);
        return true;
    }

    private static long Of(ReadOnlySpan<byte> firingId)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(firingId, digest);
        return FiringBase | (long)(BinaryPrimitives.ReadUInt64BigEndian(digest) >> 2);
    }
}
