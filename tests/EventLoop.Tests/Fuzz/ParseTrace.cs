using EventLoop.Protocol;

namespace EventLoop.Tests.Fuzz;

/// <summary>
/// What parsing a byte stream produced: each request's arguments and length, then how it ended
/// (<see cref="ParseStatus.Complete"/> when every byte was consumed). Built by one thread.
/// </summary>
internal sealed class ParseTrace
{
    public List<byte[][]> Commands { get; } = [];

    public List<int> RequestLengths { get; } = [];

    public ParseStatus End { get; private set; } = ParseStatus.Complete;

    public string? Error { get; private set; }

    /// <summary>Chunked parsing only: the stream ended while the carried bytes were below the parser's hint.</summary>
    public bool EndedWaitingForHint { get; private set; }

    /// <summary>Parses <paramref name="data"/> in one piece.</summary>
    public static ParseTrace Whole(ParserProbe probe, ReadOnlySpan<byte> data)
    {
        var trace = new ParseTrace();
        trace.Drain(probe, data);
        return trace;
    }

    /// <summary>
    /// Parses <paramref name="data"/> as the reactor does when it arrives in pieces cut at <paramref name="cuts"/>:
    /// a piece is parsed in place while nothing is carried; unconsumed bytes are carried to the next piece, and
    /// carried bytes are parsed again only once they reach the parser's <see cref="RespRequestParser.MinimumBytes"/>.
    /// Every skipped parse is checked to be one that could not have completed.
    /// </summary>
    public static ParseTrace Chunked(ParserProbe probe, byte[] data, IEnumerable<int> cuts)
    {
        var trace = new ParseTrace();
        byte[] carried = [];
        int needed = 0;
        foreach (byte[] piece in Pieces(data, cuts))
        {
            byte[] input = carried.Length == 0 ? piece : RespGenerators.Concat(carried, piece);
            if (input.Length < needed)
            {
                if (probe.Parse(input, out _, out _) == ParseStatus.Complete)
                    Assert.Fail($"{input.Length} bytes parse Complete below the hint of {needed}");
                carried = input;
                continue;
            }
            carried = input[trace.Drain(probe, input)..];
            if (trace.End == ParseStatus.Error)
                return trace;
            needed = trace.End == ParseStatus.Incomplete ? probe.Parser.MinimumBytes : 0;
        }
        trace.EndedWaitingForHint = carried.Length > 0 && carried.Length < needed;
        return trace;
    }

    /// <summary>Parses requests until the data ends, is incomplete or is refused; returns the bytes consumed.</summary>
    private int Drain(ParserProbe probe, ReadOnlySpan<byte> data)
    {
        int offset = 0;
        for (int calls = 0; offset < data.Length; calls++)
        {
            // Each Complete consumes at least one byte, so a parser that keeps going here does not advance.
            if (calls > data.Length)
                Assert.Fail($"{calls} parse calls on {data.Length} bytes");
            ParseStatus status = probe.Parse(data[offset..], out RespCommand command, out int consumed);
            End = status;
            Error = probe.Parser.ErrorMessage;
            if (status != ParseStatus.Complete)
                return offset;
            Commands.Add(ArgumentsOf(command));
            RequestLengths.Add(consumed);
            offset += consumed;
        }
        End = ParseStatus.Complete;
        return offset;
    }

    public static byte[][] ArgumentsOf(in RespCommand command)
    {
        var args = new byte[command.Count][];
        for (int i = 0; i < args.Length; i++)
            args[i] = command[i].ToArray();
        return args;
    }

    private static IEnumerable<byte[]> Pieces(byte[] data, IEnumerable<int> cuts)
    {
        int start = 0;
        foreach (int cut in cuts.Append(data.Length).Where(c => c > 0 && c <= data.Length).Distinct().Order())
        {
            yield return data[start..cut];
            start = cut;
        }
    }
}
