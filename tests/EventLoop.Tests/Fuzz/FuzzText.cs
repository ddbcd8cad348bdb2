using System.Text;

namespace EventLoop.Tests.Fuzz;

/// <summary>Comparisons and printing of parsed requests; xunit's structural equality is far too slow for a fuzz loop.</summary>
internal static class FuzzText
{
    /// <summary>Fails at the first request whose arguments differ, or when one list is longer.</summary>
    public static void AssertSameCommands(IReadOnlyList<byte[][]> expected, IReadOnlyList<byte[][]> actual)
    {
        for (int i = 0; i < Math.Min(expected.Count, actual.Count); i++)
        {
            if (!SameArguments(expected[i], actual[i]))
                Assert.Fail($"request {i} differs: expected {Describe(expected[i])}, got {Describe(actual[i])}");
        }
        if (expected.Count != actual.Count)
            Assert.Fail($"expected {expected.Count} requests, got {actual.Count}");
    }

    /// <summary>Bytes as a C# string literal (one char per byte, Latin-1), ready to paste into a regression test.</summary>
    public static string Escape(byte[] bytes)
    {
        var text = new StringBuilder("\"");
        foreach (byte b in bytes)
        {
            text.Append(b switch
            {
                (byte)'\r' => "\\r",
                (byte)'\n' => "\\n",
                (byte)'\t' => "\\t",
                (byte)'"' => "\\\"",
                (byte)'\\' => "\\\\",
                < 0x20 or >= 0x7f => $"\\u{b:x4}",
                _ => ((char)b).ToString(),
            });
        }
        return text.Append('"').ToString();
    }

    private static bool SameArguments(byte[][] expected, byte[][] actual) =>
        expected.Length == actual.Length && expected.Zip(actual).All(pair => pair.First.AsSpan().SequenceEqual(pair.Second));

    private static string Describe(byte[][] args) => $"[{string.Join(", ", args.Select(Escape))}]";
}
