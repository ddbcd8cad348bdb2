using System.Text;

namespace EventLoop.Commands;

/// <summary>Client-supplied bytes made safe to echo in an error line.</summary>
internal static class Printable
{
    public static string Of(ReadOnlySpan<byte> raw)
    {
        ReadOnlySpan<byte> shown = raw.Length > 64 ? raw[..64] : raw;
        var text = new StringBuilder(shown.Length);
        foreach (byte b in shown)
            text.Append(b is >= 32 and < 127 ? (char)b : '?');
        return text.ToString();
    }
}
