using System.Net;
using System.Net.Sockets;
using System.Text;
using BenchmarkDotNet.Attributes;
using EventLoop.Workers;
using Microsoft.Extensions.Logging.Abstractions;

namespace EventLoop.Benchmarks;

/// <summary>
/// Whole-server round trips over loopback: an in-process <see cref="EventLoopServer"/> and one blocking
/// socket client that sends a pre-encoded batch of 1,000 requests and reads until the known reply length
/// has arrived. Reported per request. The client allocates nothing per operation, so the Allocated
/// column (BenchmarkDotNet reads <c>GC.GetTotalAllocatedBytes(precise: true)</c>, which counts every
/// thread of the process) is what the reactor and the worker allocate.
/// </summary>
/// <remarks>
/// Run: <c>./build.sh bench --filter '*RoundTrip*'</c>. GlobalCleanup also measures 100,000 requests of the
/// benchmark just run, after a warm-up, with its own counters (process-wide allocated bytes, gen-0
/// collections, and the client thread's share) and prints them to the log as <c>// self-check</c>.
/// </remarks>
[MemoryDiagnoser]
public class ServerRoundTripBenchmarks
{
    private const int Batch = 1000;
    private const int SelfCheckBatches = 100;
    private const int SelfCheckWarmupBatches = 10;
    private static readonly string Payload = new('x', 64);

    private EventLoopServer _server = null!;
    private Socket _client = null!;
    // A second server whose reactor runs the echo task itself (--inline-tasks yes), with its own client.
    private EventLoopServer _inlineServer = null!;
    private Socket _inlineClient = null!;
    private Exchange _ping = null!;
    private Exchange _echo = null!;
    private Exchange _runEcho = null!;
    private Exchange _singlePing = null!;
    private byte[] _replies = [];
    // What the benchmark method of this process runs, so that GlobalCleanup re-measures the same thing.
    private Workload _lastWorkload;

    /// <summary>Starts the server on a free port, connects, and checks every batch's replies once.</summary>
    [GlobalSetup]
    public void Setup()
    {
        (_server, _client) = StartServer(InlineTaskMode.No);
        (_inlineServer, _inlineClient) = StartServer(InlineTaskMode.Yes);

        _ping = Exchange.Repeat("*1\r\n$4\r\nPING\r\n", "+PONG\r\n", Batch);
        _echo = Exchange.Repeat($"*2\r\n$4\r\nECHO\r\n$64\r\n{Payload}\r\n", $"$64\r\n{Payload}\r\n", Batch);
        _runEcho = Exchange.Repeat($"*3\r\n$3\r\nRUN\r\n$4\r\necho\r\n$64\r\n{Payload}\r\n", $"$64\r\n{Payload}\r\n", Batch);
        _singlePing = Exchange.Repeat("*1\r\n$4\r\nPING\r\n", "+PONG\r\n", 1);
        _replies = new byte[_runEcho.Reply.Length];

        foreach (Exchange exchange in new[] { _ping, _echo, _runEcho, _singlePing })
            Verify(_client, exchange);
        // The first batch runs on the workers and proves the echo task short; the second runs on the reactor.
        Verify(_inlineClient, _runEcho);
        Verify(_inlineClient, _runEcho);
    }

    private static (EventLoopServer, Socket) StartServer(InlineTaskMode inlineTasks)
    {
        var server = new EventLoopServer(new ServerOptions { Port = 0, InlineTasks = inlineTasks, LoggerFactory = NullLoggerFactory.Instance });
        server.Start();
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.Connect(new IPEndPoint(IPAddress.Loopback, server.Port));
        return (server, client);
    }

    /// <summary>1,000 pipelined <c>PING</c> (multibulk), answered inline by the reactor.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public void PingPipelined() => Run(Workload.PingPipelined);

    /// <summary>1,000 pipelined <c>ECHO</c> of 64 bytes, answered inline by the reactor.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public void EchoPipelined() => Run(Workload.EchoPipelined);

    /// <summary>1,000 pipelined <c>RUN echo</c> of 64 bytes: through the ring, a worker and the completion queue.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public void RunEchoPipelined() => Run(Workload.RunEchoPipelined);

    /// <summary>1,000 pipelined <c>RUN echo</c> of 64 bytes that the reactor runs itself (<c>--inline-tasks yes</c>).</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public void RunEchoInlinePipelined() => Run(Workload.RunEchoInlinePipelined);

    /// <summary>1,000 <c>PING</c> one after the other (pipeline depth 1): a wake-up and a syscall round per request.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public void PingSequential() => Run(Workload.PingSequential);

    /// <summary>Measures the last benchmark's workload once more with the runtime's counters, then stops the server.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        if (_lastWorkload != Workload.None)
            SelfCheck(_lastWorkload);
        _client.Dispose();
        _inlineClient.Dispose();
        _server.StopAsync().GetAwaiter().GetResult();
        _inlineServer.StopAsync().GetAwaiter().GetResult();
    }

    private void Run(Workload workload)
    {
        _lastWorkload = workload;
        switch (workload)
        {
            case Workload.PingPipelined: RoundTrip(_client, _ping); break;
            case Workload.EchoPipelined: RoundTrip(_client, _echo); break;
            case Workload.RunEchoPipelined: RoundTrip(_client, _runEcho); break;
            case Workload.RunEchoInlinePipelined: RoundTrip(_inlineClient, _runEcho); break;
            case Workload.PingSequential:
                for (int i = 0; i < Batch; i++)
                    RoundTrip(_client, _singlePing);
                break;
        }
    }

    private void RoundTrip(Socket client, Exchange exchange)
    {
        client.Send(exchange.Request);
        int expected = exchange.Reply.Length;
        for (int received = 0; received < expected;)
        {
            int n = client.Receive(_replies.AsSpan(received, expected - received));
            if (n == 0)
                throw new InvalidOperationException("the server closed the connection");
            received += n;
        }
    }

    private void Verify(Socket client, Exchange exchange)
    {
        RoundTrip(client, exchange);
        if (!_replies.AsSpan(0, exchange.Reply.Length).SequenceEqual(exchange.Reply))
            throw new InvalidOperationException("unexpected reply from the server");
    }

    /// <summary>
    /// 100,000 requests after a warm-up: bytes allocated by the whole process and by the client thread
    /// alone, and gen-0 collections. The difference of the two byte counts is the server's share.
    /// </summary>
    private void SelfCheck(Workload workload)
    {
        for (int i = 0; i < SelfCheckWarmupBatches; i++)
            Run(workload);
        long gen0Before = GC.CollectionCount(0);
        long processBefore = GC.GetTotalAllocatedBytes(precise: true);
        long clientBefore = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < SelfCheckBatches; i++)
            Run(workload);
        long clientBytes = GC.GetAllocatedBytesForCurrentThread() - clientBefore;
        long processBytes = GC.GetTotalAllocatedBytes(precise: true) - processBefore;
        long gen0 = GC.CollectionCount(0) - gen0Before;
        const int requests = SelfCheckBatches * Batch;
        Console.WriteLine(
            $"// self-check {workload}: {requests:N0} requests, process allocated {processBytes:N0} B " +
            $"({(double)processBytes / requests:0.###} B/request), client thread {clientBytes:N0} B, " +
            $"server {(double)(processBytes - clientBytes) / requests:0.###} B/request, gen-0 collections {gen0}");
    }

    private enum Workload { None, PingPipelined, EchoPipelined, RunEchoPipelined, RunEchoInlinePipelined, PingSequential }

    /// <summary>A pre-encoded request batch and the exact bytes it must be answered with.</summary>
    private sealed record Exchange(byte[] Request, byte[] Reply)
    {
        public static Exchange Repeat(string request, string reply, int count) => new(
            Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(request, count))),
            Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(reply, count))));
    }
}
