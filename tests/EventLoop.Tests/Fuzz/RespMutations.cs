using CsCheck;

namespace EventLoop.Tests.Fuzz;

/// <summary>
/// Generators of hostile input: seeds (corpus entries and valid requests) put through one to four mutations
/// (flip a bit, set or insert framing bytes, delete, truncate, duplicate a range, rewrite the number after a
/// <c>*</c> or <c>$</c> as huge, negative, padded or not a number), splices of two seeds, and token noise.
/// </summary>
internal static class RespMutations
{
    /// <summary>What a length header is rewritten to: limits and their neighbours, overflows, signs, padding, garbage.</summary>
    private static readonly string[] NumberReplacements =
    [
        "0", "1", "2", "9", "-1", "-2", "-0", "-2147483648", "01", "+1", " 1", "1 ", "", "abc", "0x10", "1.5", "1e3",
        "65536", "65537", "1048576", "1048577", "16777216", "16777217", "1073741824",
        "2147483647", "2147483648", "4294967296", "9223372036854775807", "99999999999999999999",
    ];

    private static readonly string[] NoiseTokens =
    [
        "*", "$", "\r\n", "\r", "\n", "-1", "0", "1", "4", "12", "4294967296", "\"", "'", "\\", "\\x4", " ", "\t",
        "PING", "ECHO", "RUN", "echo", "x", "\0", "\xff",
    ];

    /// <summary>Corpus entries, valid requests and valid pipelines.</summary>
    public static readonly Gen<byte[]> Seed = Gen.Frequency<byte[]>(
        (3, Gen.OneOf(FuzzCorpus.Seeds)),
        (2, RespGenerators.Request.Select(request => request.Bytes)),
        (2, RespGenerators.Pipeline.Select(pipeline => pipeline.Bytes)));

    public static readonly Gen<byte[]> Mutated = MutatedFrom(Seed);

    /// <summary>The start of one seed followed by the end of another.</summary>
    public static readonly Gen<byte[]> Spliced = Gen.Select(Seed, Seed).SelectMany((first, second) =>
        Gen.Select(Gen.Int[0, first.Length], Gen.Int[0, second.Length], (cut, from) => RespGenerators.Concat(first[..cut], second[from..])));

    public static readonly Gen<byte[]> Noise = Gen.Frequency<byte[]>(
        (1, Gen.Byte.Array[0, 64]),
        (2, Gen.OneOf(NoiseTokens).Array[0, 24].Select(tokens => RespGenerators.Latin1(string.Concat(tokens)))));

    /// <summary>Everything the fuzz properties feed the parser and the server.</summary>
    public static readonly Gen<byte[]> Fuzzed = Gen.Frequency<byte[]>((6, Mutated), (2, Spliced), (2, Noise), (1, Seed));

    /// <summary>Each of <paramref name="seeds"/> after one to four mutations.</summary>
    public static Gen<byte[]> MutatedFrom(Gen<byte[]> seeds) =>
        Gen.Select(seeds, Gen.Int[1, 4]).SelectMany((seed, count) => MutateTimes(seed, count));

    private static Gen<byte[]> MutateTimes(byte[] seed, int count) =>
        count == 0 ? Gen.Const(seed) : MutateOnce(seed).SelectMany(mutated => MutateTimes(mutated, count - 1));

    private static Gen<byte[]> MutateOnce(byte[] bytes) => bytes.Length == 0
        ? Insert(bytes)
        : Gen.Frequency<byte[]>(
            (3, FlipBit(bytes)), (3, SetByte(bytes)), (2, Insert(bytes)), (2, Delete(bytes)),
            (2, Truncate(bytes)), (1, Duplicate(bytes)), (4, RewriteNumber(bytes)));

    private static Gen<byte[]> FlipBit(byte[] bytes) =>
        Gen.Select(Gen.Int[0, bytes.Length - 1], Gen.Int[0, 7], (at, bit) => With(bytes, at, (byte)(bytes[at] ^ (1 << bit))));

    private static Gen<byte[]> SetByte(byte[] bytes) =>
        Gen.Select(Gen.Int[0, bytes.Length - 1], Gen.OneOf(RespGenerators.InterestingBytes), (at, value) => With(bytes, at, value));

    private static Gen<byte[]> Insert(byte[] bytes) =>
        Gen.Select(Gen.Int[0, bytes.Length], Gen.Frequency<byte[]>((2, Gen.OneOf(RespGenerators.InterestingBytes).Array[1, 4]), (1, Gen.Byte.Array[1, 8])),
            (at, inserted) => RespGenerators.Concat(bytes[..at], inserted, bytes[at..]));

    private static Gen<byte[]> Delete(byte[] bytes) => Gen.Int[0, bytes.Length - 1].SelectMany(at =>
        Gen.Int[1, Math.Min(16, bytes.Length - at)].Select(count => RespGenerators.Concat(bytes[..at], bytes[(at + count)..])));

    private static Gen<byte[]> Truncate(byte[] bytes) => Gen.Int[0, bytes.Length - 1].Select(length => bytes[..length]);

    private static Gen<byte[]> Duplicate(byte[] bytes) => Gen.Int[0, bytes.Length - 1].SelectMany(at =>
        Gen.Int[1, Math.Min(256, bytes.Length - at)].Select(count =>
            RespGenerators.Concat(bytes[..(at + count)], bytes[at..(at + count)], bytes[(at + count)..])));

    /// <summary>Rewrites the number after a '*' or '$' as a fixed oddity or as itself plus -2..2.</summary>
    private static Gen<byte[]> RewriteNumber(byte[] bytes)
    {
        int[] markers = [.. Enumerable.Range(0, bytes.Length).Where(i => bytes[i] is (byte)'*' or (byte)'$')];
        if (markers.Length == 0)
            return SetByte(bytes);
        Gen<Func<string, string>> rewrite = Gen.Frequency<Func<string, string>>(
            (3, Gen.OneOf(NumberReplacements).Select(replacement => (Func<string, string>)(_ => replacement))),
            (1, Gen.Int[-2, 2].Select(delta => (Func<string, string>)(old => long.TryParse(old, out long n) ? (n + delta).ToString() : delta.ToString()))));
        return Gen.Select(Gen.OneOf(markers), rewrite, (marker, replace) => ReplaceNumberAfter(bytes, marker, replace));
    }

    private static byte[] ReplaceNumberAfter(byte[] bytes, int marker, Func<string, string> replace)
    {
        int start = marker + 1;
        int end = start;
        while (end < bytes.Length && (bytes[end] is >= (byte)'0' and <= (byte)'9' || (end == start && bytes[end] == '-')))
            end++;
        string old = RespGenerators.Latin1String(bytes[start..end]);
        return RespGenerators.Concat(bytes[..start], RespGenerators.Latin1(replace(old)), bytes[end..]);
    }

    private static byte[] With(byte[] bytes, int at, byte value)
    {
        byte[] copy = [.. bytes];
        copy[at] = value;
        return copy;
    }
}
