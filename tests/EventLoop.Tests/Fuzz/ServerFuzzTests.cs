using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using System.Text;
using CsCheck;
using EventLoop.Protocol;
using EventLoop.Tests.Server;
using Xunit.Abstractions;

namespace EventLoop.Tests.Fuzz;

/// <summary>
/// Fuzzed and mutated byte streams on twenty concurrent connections to a real server, for a share of
/// <see cref="FuzzBudget"/>: each connection gets exactly one reply per complete request its bytes hold (up to a
/// QUIT), then at most the protocol error those bytes deserve, then a close; a bystander's PING is answered
/// throughout; and afterwards no connection or task is left behind.
/// </summary>
public sealed class ServerFuzzTests(ITestOutputHelper output)
{
    private const double Share = 0.4;
    private const int Connections = 20;
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(10);

    /// <summary>One connection's traffic: its bytes, where they are cut into separate sends, and whether it ends in a reset instead of a half-close.</summary>
    private sealed record FuzzStream(byte[] Bytes, int[] Cuts, bool Reset);

    /// <summary>What the server owes a stream: replies to its complete requests up to a QUIT, then the protocol error, if its bytes break the protocol.</summary>
    private sealed record Expectation(int Replies, string? ProtocolError);

    /// <summary>What one connection saw.</summary>
    private readonly record struct Outcome(int Replies, bool ProtocolError, bool Reset);

    /// <summary>
    /// Hundreds of small task requests back to back, past the server's 1024 requests in flight per connection,
    /// so that reading pauses and resumes in the middle of the stream; as they are or mutated.
    /// </summary>
    private static readonly Gen<byte[]> LongPipelines = Gen.Select(Gen.Byte.Array[0, 16], Gen.Int[200, 1500], (arg, count) =>
    {
        byte[] request = RespGenerators.EncodeMultibulk(["RUN"u8.ToArray(), "echo"u8.ToArray(), arg]);
        return RespGenerators.Concat([.. Enumerable.Repeat(request, count)]);
    });

    private static readonly Gen<byte[]> StreamBytes = Gen.Frequency<byte[]>(
        (38, RespMutations.Fuzzed), (1, LongPipelines), (1, RespMutations.MutatedFrom(LongPipelines)));

    private static readonly Gen<FuzzStream> Streams = StreamBytes.SelectMany(bytes =>
        Gen.Select(Gen.Int[0, bytes.Length].Array[0, 3], Gen.Int[0, 7], (cuts, reset) => new FuzzStream(bytes, cuts, reset == 0)));

    [Fact]
    public async Task Fuzzed_streams_on_twenty_connections_leave_the_server_serving_everyone()
    {
        // The corpus is replayed here: a long task in it would hold replies past the timeouts below.
        Assert.DoesNotContain(FuzzCorpus.Entries, entry => StartsLongTask(entry.Value));
        var options = new ServerOptions();
        var limits = new ProtocolLimits { MaxArgBytes = options.MaxArgBytes, MaxArgs = options.MaxArgs };
        await using var server = new TestServer(options);
        using RawConnection bystander = server.Connect();
        int seconds = FuzzBudget.Seconds(Share);

        long replies = 0, protocolErrors = 0, resets = 0;
        using (var pings = new BystanderPings(bystander))
        {
            FuzzBudget.Run(output, nameof(Fuzzed_streams_on_twenty_connections_leave_the_server_serving_everyone), seconds, () =>
            {
                long executions = 0;
                OnDedicatedThreads(Connections, () => Streams.Sample(stream =>
                {
                    Outcome outcome = Exchange(server.Port, stream, Expect(stream.Bytes, limits));
                    Interlocked.Add(ref replies, outcome.Replies);
                    Interlocked.Add(ref protocolErrors, outcome.ProtocolError ? 1 : 0);
                    Interlocked.Add(ref resets, outcome.Reset ? 1 : 0);
                    Interlocked.Increment(ref executions);
                }, time: seconds, threads: 1, print: Describe));
                return executions;
            });
            pings.AssertEveryPingWasAnswered();
            FuzzBudget.Report(output, $"  server: {replies} replies, {protocolErrors} protocol errors answered, {resets} connections reset, {pings.Answered} bystander pings answered");
        }

        await AssertNothingLeftBehind(bystander);
    }

    /// <summary>Waits up to 10 s for INFO to show the bystander as the only client and no task in progress.</summary>
    private static async Task AssertNothingLeftBehind(RawConnection bystander)
    {
        string info = "";
        for (var deadline = DateTime.UtcNow.AddSeconds(10); DateTime.UtcNow < deadline; await Task.Delay(50))
        {
            info = FaultTests.Info(bystander);
            if (info.Contains("connected_clients:1\r\n") && info.Contains("tasks_in_progress:0\r\n"))
                return;
        }
        Assert.Fail($"connections or tasks left behind 10 s after the fuzz run:\n{info}");
    }

    /// <summary>
    /// Runs <paramref name="action"/> on <paramref name="count"/> threads of its own and rethrows the first failure.
    /// CsCheck's own threads come from the thread pool, which blocking socket calls would starve.
    /// </summary>
    private static void OnDedicatedThreads(int count, Action action)
    {
        Exception? firstFailure = null;
        Thread[] threads = [.. Enumerable.Range(0, count).Select(i => new Thread(() =>
        {
            try
            {
                action();
            }
            catch (Exception failure)
            {
                Interlocked.CompareExchange(ref firstFailure, failure, null);
            }
        }) { IsBackground = true, Name = $"fuzz connection {i}" })];
        foreach (Thread thread in threads)
            thread.Start();
        foreach (Thread thread in threads)
            thread.Join();
        if (firstFailure is not null)
            ExceptionDispatchInfo.Throw(firstFailure);
    }

    private static Expectation Expect(byte[] bytes, ProtocolLimits limits)
    {
        ParseTrace trace = ParseTrace.Whole(new ParserProbe(limits), bytes);
        int replies = 0;
        foreach (byte[][] args in trace.Commands.Where(args => args.Length > 0))
        {
            replies++;
            if (Ascii.EqualsIgnoreCase(args[0], "QUIT"u8))
                return new Expectation(replies, null);
        }
        return new Expectation(replies, trace.End == ParseStatus.Error ? trace.Error : null);
    }

    /// <summary>
    /// Sends the stream, then reads the replies owed. The protocol error may be missing: when a request arrives
    /// in pieces, the server waits for the bytes its parser asked for and may see the end of input before the error.
    /// </summary>
    private static Outcome Exchange(int port, FuzzStream stream, Expectation expected)
    {
        using RawConnection connection = RawConnection.Open(port);
        if (!TrySend(connection, stream))
            return new Outcome(0, ProtocolError: false, Reset: true);
        for (int i = 0; i < expected.Replies; i++)
        {
            string reply = connection.ReadReply(ReplyTimeout);
            Assert.False(reply.StartsWith("-ERR Protocol error", StringComparison.Ordinal), $"reply {i} of {expected.Replies} is {reply}");
        }
        string rest = connection.ReadToClose(ReplyTimeout);
        if (rest.Length > 0)
            Assert.Equal($"-ERR {expected.ProtocolError?.Replace('\r', ' ').Replace('\n', ' ')}\r\n", rest);
        return new Outcome(expected.Replies, ProtocolError: rest.Length > 0, Reset: false);
    }

    /// <summary>Sends the pieces, then half-closes; false when the stream ends in a reset instead, with nothing to read.</summary>
    private static bool TrySend(RawConnection connection, FuzzStream stream)
    {
        try
        {
            int start = 0;
            foreach (int cut in stream.Cuts.Append(stream.Bytes.Length).Where(cut => cut > 0).Distinct().Order())
            {
                connection.Send(stream.Bytes[start..cut]);
                start = cut;
                Thread.Sleep(1); // so that the pieces arrive in separate reads
            }
            if (stream.Reset)
            {
                connection.Socket.LingerState = new LingerOption(true, 0); // close sends RST
                return false;
            }
            connection.Socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // The server closed first (after a protocol error or QUIT); what it sent before is still readable.
        }
        return true;
    }

    private static bool StartsLongTask(byte[] bytes)
    {
        string text = Encoding.Latin1.GetString(bytes);
        return text.Contains("sleep", StringComparison.OrdinalIgnoreCase) || text.Contains("spin", StringComparison.OrdinalIgnoreCase);
    }

    private static string Describe(FuzzStream stream) =>
        $"{FuzzText.Escape(stream.Bytes)} cut at [{string.Join(", ", stream.Cuts)}], then {(stream.Reset ? "reset" : "half-closed")}";

    /// <summary>Pings from a bystander connection every 50 ms on its own thread until disposed, recording the first failure.</summary>
    private sealed class BystanderPings : IDisposable
    {
        private static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(5);
        private readonly Thread _thread;
        private volatile bool _stopping;
        private int _answered;
        private Exception? _failure;

        /// <summary>Pings answered so far; read once stopped.</summary>
        public int Answered => _answered;

        public BystanderPings(RawConnection connection)
        {
            _thread = new Thread(() => PingUntilStopped(connection)) { IsBackground = true, Name = "bystander pings" };
            _thread.Start();
        }

        public void AssertEveryPingWasAnswered()
        {
            Stop();
            if (_failure is not null)
                Assert.Fail($"the bystander's ping after {_answered} answered ones failed: {_failure.Message}");
            Assert.True(_answered > 0, "the bystander never pinged");
        }

        public void Dispose() => Stop();

        private void Stop()
        {
            _stopping = true;
            _thread.Join();
        }

        private void PingUntilStopped(RawConnection connection)
        {
            try
            {
                while (!_stopping)
                {
                    connection.SendCommand("PING");
                    string reply = connection.ReadReply(PingTimeout);
                    if (reply != "+PONG\r\n")
                        throw new InvalidDataException($"PING answered {reply}");
                    _answered++;
                    Thread.Sleep(50);
                }
            }
            catch (Exception failure)
            {
                _failure = failure;
            }
        }
    }
}
