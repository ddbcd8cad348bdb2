using System.Text;
using CsCheck;

namespace EventLoop.Tests.Fuzz;

/// <summary>A request as it goes on the wire, and the arguments it must decode to (none for a request the server skips).</summary>
internal sealed record WireRequest(byte[] Bytes, byte[][] Args);

/// <summary>Requests sent back to back, and each one's expected arguments in order.</summary>
internal sealed record WirePipeline(byte[] Bytes, WireRequest[] Requests);

/// <summary>
/// Generators of valid RESP2 requests: multibulk frames with binary arguments (CR/LF inside, empty, a few KiB),
/// Redis-style inline lines with plain, double-quoted (escapes, <c>\xHH</c>), single-quoted and mid-token quoted
/// arguments, the empty requests a server skips, and pipelines of all of them.
/// </summary>
internal static class RespGenerators
{
    /// <summary>Bytes that frame RESP or inline lines, so that generated and mutated data hits the parser's branches.</summary>
    public static readonly byte[] InterestingBytes = [.. "\r\n*$-+:0123456789 \t\"'\\x"u8, 0, 0x7f, 0x80, 0xff];

    /// <summary>A binary argument, often made of framing bytes, sometimes empty or a few KiB long.</summary>
    public static readonly Gen<byte[]> BinaryArg = Gen.Frequency<byte[]>(
        (4, Gen.Byte.Array[0, 16]),
        (4, Gen.OneOf(InterestingBytes).Array[0, 16]),
        (1, Gen.Const(Array.Empty<byte>())),
        (1, Gen.Select(Gen.Int[256, 8192], Gen.OneOf(InterestingBytes).Array[1, 32], Repeat)));

    public static readonly Gen<WireRequest> Multibulk =
        BinaryArg.Array[1, 8].Select(args => new WireRequest(EncodeMultibulk(args), args));

    /// <summary>Requests with no arguments: blank lines, <c>*0</c>, <c>*-1</c>.</summary>
    public static readonly Gen<WireRequest> Empty =
        Gen.OneOf("\r\n", "\n", " \t \r\n", "*0\r\n", "*-1\r\n").Select(text => new WireRequest(Latin1(text), []));

    /// <summary>Bytes a plain inline token may hold: anything but blanks, quotes and line ends.</summary>
    private static readonly byte[] PlainTokenBytes =
        [.. Enumerable.Range(0, 256).Select(b => (byte)b).Where(b => !" \t\"'\r\n"u8.Contains(b))];

    private static readonly byte[] WordBytes = Latin1("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.*$");

    private static readonly Gen<byte[]> PlainToken = Gen.Frequency<byte[]>(
        (3, Gen.OneOf(WordBytes).Array[1, 10]),
        (1, Gen.OneOf(PlainTokenBytes).Array[1, 10]));

    private static readonly Gen<byte[]> QuotableArg = Gen.Frequency<byte[]>(
        (1, Gen.Byte.Array[0, 12]),
        (2, Gen.OneOf(InterestingBytes).Array[0, 12]));

    /// <summary>One inline argument and how it is written on the line.</summary>
    private static readonly Gen<(byte[] Arg, byte[] Written)> InlineToken = Gen.Frequency<(byte[], byte[])>(
        (4, PlainToken.Select(token => (token, token))),
        (2, QuotableArg.Select(arg => (arg, DoubleQuoted(arg, hexEverything: false)))),
        (1, QuotableArg.Select(arg => (arg, DoubleQuoted(arg, hexEverything: true)))),
        (2, QuotableArg.Select(SingleQuotable).Select(arg => (arg, SingleQuoted(arg)))),
        (1, Gen.Select(PlainToken, QuotableArg, (prefix, arg) => (Concat(prefix, arg), Concat(prefix, DoubleQuoted(arg, hexEverything: false))))));

    private static readonly Gen<string> Blanks = Gen.OneOf(" ", "\t", "  ", " \t ");
    private static readonly Gen<string> Edge = Gen.OneOf("", "", " ", "\t ");

    public static readonly Gen<WireRequest> Inline = InlineToken.Array[1, 6].SelectMany(tokens =>
        Gen.Select(Blanks.Array[tokens.Length - 1], Edge, Edge, Gen.OneOf("\r\n", "\n"),
            (blanks, leading, trailing, end) => InlineLine(tokens, blanks, leading, trailing, end)));

    public static readonly Gen<WireRequest> Request = Gen.Frequency<WireRequest>((5, Multibulk), (4, Inline), (1, Empty));

    public static readonly Gen<WirePipeline> Pipeline =
        Request.Array[1, 24].Select(requests => new WirePipeline(Concat([.. requests.Select(r => r.Bytes)]), requests));

    /// <summary>A long argument made by repeating a short pattern: generating kilobytes byte by byte would dominate the run.</summary>
    private static byte[] Repeat(int length, byte[] pattern)
    {
        byte[] repeated = new byte[length];
        for (int i = 0; i < length; i++)
            repeated[i] = pattern[i % pattern.Length];
        return repeated;
    }

    public static byte[] EncodeMultibulk(byte[][] args)
    {
        var frame = new MemoryStream();
        frame.Write(Latin1($"*{args.Length}\r\n"));
        foreach (byte[] arg in args)
        {
            frame.Write(Latin1($"${arg.Length}\r\n"));
            frame.Write(arg);
            frame.Write("\r\n"u8);
        }
        return frame.ToArray();
    }

    /// <summary>A double-quoted token; control and high bytes as escapes, or every byte as <c>\xHH</c> in mixed case.</summary>
    private static byte[] DoubleQuoted(byte[] arg, bool hexEverything)
    {
        var text = new StringBuilder("\"");
        for (int i = 0; i < arg.Length; i++)
        {
            byte b = arg[i];
            text.Append(hexEverything ? $"\\x{b.ToString(i % 2 == 0 ? "x2" : "X2")}" : b switch
            {
                (byte)'"' => "\\\"",
                (byte)'\\' => "\\\\",
                (byte)'\n' => "\\n",
                (byte)'\r' => "\\r",
                (byte)'\t' => "\\t",
                (byte)'\b' => "\\b",
                (byte)'\a' => "\\a",
                < 0x20 or >= 0x7f => $"\\x{b:x2}",
                _ => ((char)b).ToString(),
            });
        }
        return Latin1(text.Append('"').ToString());
    }

    /// <summary>
    /// Single quotes escape only <c>\'</c>: the argument cannot hold a line feed (the line would end) nor end
    /// with a backslash (it would escape the closing quote), so those are dropped.
    /// </summary>
    private static byte[] SingleQuotable(byte[] arg)
    {
        byte[] kept = [.. arg.Where(b => b != '\n')];
        return kept.AsSpan().TrimEnd((byte)'\\').ToArray();
    }

    private static byte[] SingleQuoted(byte[] arg) =>
        [(byte)'\'', .. arg.SelectMany(b => b == '\'' ? "\\'"u8.ToArray() : [b]), (byte)'\''];

    private static WireRequest InlineLine((byte[] Arg, byte[] Written)[] tokens, string[] blanks, string leading, string trailing, string end)
    {
        var line = new MemoryStream();
        // A line starting with '*' would be read as multibulk; a leading blank keeps it inline.
        line.Write(Latin1(leading.Length == 0 && tokens[0].Written[0] == '*' ? " " : leading));
        for (int i = 0; i < tokens.Length; i++)
        {
            if (i > 0)
                line.Write(Latin1(blanks[i - 1]));
            line.Write(tokens[i].Written);
        }
        line.Write(Latin1(trailing + end));
        return new WireRequest(line.ToArray(), [.. tokens.Select(t => t.Arg)]);
    }

    public static byte[] Concat(params ReadOnlySpan<byte[]> parts)
    {
        int length = 0;
        foreach (byte[] part in parts)
            length += part.Length;
        byte[] joined = new byte[length];
        int offset = 0;
        foreach (byte[] part in parts)
        {
            part.CopyTo(joined, offset);
            offset += part.Length;
        }
        return joined;
    }

    public static byte[] Latin1(string text) => Encoding.Latin1.GetBytes(text);

    public static string Latin1String(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);
}
