using EventLoop.Protocol;

namespace EventLoop.Tests.Fuzz;

/// <summary>
/// A parser whose every <see cref="RespRequestParser.TryParse"/> is checked against its documented contract
/// and whose allocations are counted. Owned by the thread running one property sample.
/// </summary>
internal sealed class ParserProbe(ProtocolLimits limits)
{
    public RespRequestParser Parser { get; } = new(limits);

    /// <summary>Bytes allocated on this thread inside TryParse, over every call so far.</summary>
    public long AllocatedBytes { get; private set; }

    /// <summary>
    /// TryParse, then the contract: Complete consumes 1..length bytes; Incomplete consumes nothing and asks for
    /// more than it holds; Error consumes nothing and explains itself as a protocol error.
    /// </summary>
    public ParseStatus Parse(ReadOnlySpan<byte> buffer, out RespCommand command, out int consumed)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        ParseStatus status = Parser.TryParse(buffer, out command, out consumed);
        AllocatedBytes += GC.GetAllocatedBytesForCurrentThread() - before;

        string? broken = status switch
        {
            ParseStatus.Complete when consumed < 1 || consumed > buffer.Length => $"Complete consumed {consumed} of {buffer.Length} bytes",
            ParseStatus.Complete when Parser.MinimumBytes != 0 || Parser.ErrorMessage is not null => "Complete left a hint or an error behind",
            ParseStatus.Incomplete when consumed != 0 => $"Incomplete consumed {consumed} bytes",
            ParseStatus.Incomplete when Parser.MinimumBytes <= buffer.Length => $"Incomplete on {buffer.Length} bytes asks for only {Parser.MinimumBytes}",
            ParseStatus.Incomplete when Parser.ErrorMessage is not null => "Incomplete carries an error message",
            ParseStatus.Error when consumed != 0 => $"Error consumed {consumed} bytes",
            ParseStatus.Error when Parser.MinimumBytes != 0 => "Error left a hint behind",
            ParseStatus.Error when Parser.ErrorMessage?.StartsWith("Protocol error: ", StringComparison.Ordinal) != true => $"Error says '{Parser.ErrorMessage}'",
            ParseStatus.Complete or ParseStatus.Incomplete or ParseStatus.Error => null,
            _ => $"TryParse returned {status}, which is no ParseStatus",
        };
        // Plain checks rather than xunit asserts: this runs for every call of every fuzz iteration.
        if (broken is not null)
            Assert.Fail(broken);
        return status;
    }
}
