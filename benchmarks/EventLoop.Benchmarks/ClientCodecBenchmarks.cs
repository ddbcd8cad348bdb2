using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using EventLoop.Client;

namespace EventLoop.Benchmarks;

/// <summary>
/// The .NET client's per-task work in a worker's steady state, reported per task: reading a FETCH COUNT 64 reply
/// (64 tasks with one 64-byte argument each) and encoding and reading back 64 ACKs. Each is set beside the general
/// path the client took before (a <see cref="RespValue"/> tree per reply, a byte array per ACK argument), so the bytes
/// allocated per task show what the typed readers save.
/// <c>./build.sh bench --filter '*ClientCodec*' --job short</c>
/// </summary>
[MemoryDiagnoser]
public class ClientCodecBenchmarks
{
    private const int Tasks = 64;

    private readonly TaskNames _names = new();
    private readonly ArrayBufferWriter<byte> _output = new(64 * 1024);
    private byte[] _fetchReply = [];
    private FetchedTask[] _fetched = [];

    [GlobalSetup]
    public void Setup()
    {
        var reply = new StringBuilder($"*{Tasks}\r\n");
        string payload = new('x', 64);
        for (int i = 0; i < Tasks; i++)
            reply.Append($"*4\r\n$6\r\n{100000 + i}\r\n:1\r\n$14\r\nbench-external\r\n*1\r\n$64\r\n{payload}\r\n");
        _fetchReply = Encoding.ASCII.GetBytes(reply.ToString());
        _fetched = [.. FetchReply.Parse(_fetchReply, _names)];
    }

    /// <summary>FETCH's reply read straight into tasks (what <see cref="EventLoopClient.FetchAsync"/> does).</summary>
    [Benchmark(OperationsPerInvoke = Tasks)]
    public int FetchReplyTyped() => FetchReply.Parse(_fetchReply, _names).Count;

    /// <summary>The same reply as a <see cref="RespValue"/> tree, then tasks made from it (the client's path before).</summary>
    [Benchmark(OperationsPerInvoke = Tasks)]
    public int FetchReplyViaRespValue()
    {
        RespValue reply = RespValueParser.Parse(_fetchReply);
        var tasks = new List<FetchedTask>(reply.Elements.Count);
        foreach (RespValue entry in reply.Elements)
        {
            IReadOnlyList<RespValue> fields = entry.Elements;
            tasks.Add(new FetchedTask(fields[0].Text ?? "", fields[1].IntegerValue, fields[2].Text ?? "",
                [.. fields[3].Elements.Select(argument => argument.Bytes)]));
        }
        return tasks.Count;
    }

    /// <summary>64 ACKs encoded into the send buffer, and their 64 <c>+OK</c> replies read (AckManyAsync's work).</summary>
    [Benchmark(OperationsPerInvoke = Tasks)]
    public int AckTyped()
    {
        _output.ResetWrittenCount();
        foreach (FetchedTask task in _fetched)
            RespRequestEncoder.WriteAck(_output, task.Id, task.Attempt, default);
        int accepted = 0;
        for (int i = 0; i < Tasks; i++)
            accepted += EventLoopClient.ParseOutcome("+OK\r\n"u8) == DeliveryOutcome.Accepted ? 1 : 0;
        return accepted + _output.WrittenCount;
    }

    /// <summary>The same as byte-array arguments and <see cref="RespValue"/> replies (the client's path before).</summary>
    [Benchmark(OperationsPerInvoke = Tasks)]
    public int AckViaArguments()
    {
        _output.ResetWrittenCount();
        foreach (FetchedTask task in _fetched)
        {
            ReadOnlyMemory<byte>[] command = [Encoding.UTF8.GetBytes("ACK"), Encoding.UTF8.GetBytes(task.Id),
                Encoding.UTF8.GetBytes(task.Attempt.ToString(System.Globalization.CultureInfo.InvariantCulture)), ReadOnlyMemory<byte>.Empty];
            RespRequestEncoder.WriteCommand(_output, command);
        }
        int accepted = 0;
        for (int i = 0; i < Tasks; i++)
            accepted += RespValueParser.Parse("+OK\r\n"u8).IsError ? 0 : 1;
        return accepted + _output.WrittenCount;
    }
}
