using System.Buffers.Text;

namespace EventLoop.Queueing;

/// <summary>
/// A task's result as the store keeps it: already the RESP bulk string RESULT answers with (<c>$n\r\n…\r\n</c>),
/// so answering is one copy. In-process results arrive framed by the worker; an ACK's is framed here.
/// </summary>
internal static class ResultBulk
{
    /// <summary>The empty result (an ACK without one), shared: results are never written to once stored.</summary>
    private static readonly byte[] Empty = "$0\r\n\r\n"u8.ToArray();

    /// <summary>Frames <paramref name="payload"/> in an array of exactly its size (the shared one when empty).</summary>
    public static byte[] Encode(ReadOnlySpan<byte> payload) => payload.IsEmpty ? Empty : Frame(payload);

    private static byte[] Frame(ReadOnlySpan<byte> payload)
    {
        Span<byte> digits = stackalloc byte[11];
        Utf8Formatter.TryFormat(payload.Length, digits, out int length);
        byte[] bulk = new byte[1 + length + 2 + payload.Length + 2];
        bulk[0] = (byte)'$';
        digits[..length].CopyTo(bulk.AsSpan(1));
        "\r\n"u8.CopyTo(bulk.AsSpan(1 + length));
        payload.CopyTo(bulk.AsSpan(3 + length));
        "\r\n"u8.CopyTo(bulk.AsSpan(3 + length + payload.Length));
        return bulk;
    }

    /// <summary>The payload inside a framed result.</summary>
    public static ReadOnlySpan<byte> Payload(byte[] bulk)
    {
        int header = Array.IndexOf(bulk, (byte)'\n') + 1;
        return bulk.AsSpan(header, bulk.Length - header - 2);
    }
}
