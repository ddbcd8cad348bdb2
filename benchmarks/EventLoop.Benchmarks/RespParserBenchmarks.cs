using System.Text;
using BenchmarkDotNet.Attributes;
using EventLoop.Protocol;

namespace EventLoop.Benchmarks;

/// <summary>
/// Parses buffers of 1,000 pipelined requests, as the reactor does after a large read; reported per request.
/// <c>dotnet run -c Release --project benchmarks/EventLoop.Benchmarks -- --filter '*RespParser*' --job short</c>
/// </summary>
[MemoryDiagnoser]
public class RespParserBenchmarks
{
    private const int Commands = 1000;

    private readonly RespRequestParser _parser = new(new ProtocolLimits());
    private byte[] _multibulkPing = [];
    private byte[] _multibulkRunEcho = [];
    private byte[] _inlinePing = [];

    [GlobalSetup]
    public void Setup()
    {
        string payload = new('x', 64);
        _multibulkPing = Repeat("*1\r\n$4\r\nPING\r\n");
        _multibulkRunEcho = Repeat($"*3\r\n$3\r\nRUN\r\n$4\r\necho\r\n$64\r\n{payload}\r\n");
        _inlinePing = Repeat("PING\r\n");
    }

    [Benchmark(OperationsPerInvoke = Commands)]
    public int MultibulkPing() => ParseAll(_multibulkPing);

    [Benchmark(OperationsPerInvoke = Commands)]
    public int MultibulkRunEcho64() => ParseAll(_multibulkRunEcho);

    [Benchmark(OperationsPerInvoke = Commands)]
    public int InlinePing() => ParseAll(_inlinePing);

    /// <summary>Parses every request and touches its name, as a dispatcher would.</summary>
    private int ParseAll(ReadOnlySpan<byte> buffer)
    {
        int matched = 0;
        while (_parser.TryParse(buffer, out RespCommand command, out int consumed) == ParseStatus.Complete)
        {
            matched += command.Is(0, "PING"u8) ? 1 : command.Count;
            buffer = buffer[consumed..];
        }

        return matched;
    }

    private static byte[] Repeat(string request) =>
        Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(request, Commands)));
}
