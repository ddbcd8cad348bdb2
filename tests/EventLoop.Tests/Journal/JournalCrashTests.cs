using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;
using EventLoop.Tests.Support;
using Xunit.Abstractions;

namespace EventLoop.Tests.Journal;

/// <summary>
/// Crash tests over real processes: the CLI server with the journal on, SUBMITs from several pipelining
/// connections and an external worker FETCHing and ACKing, SIGKILL at a random moment, restart, and every
/// acknowledged task must be there (every ACKed one succeeded); at the end every one completes. Under
/// <c>always</c>, every other kill also simulates power loss: the journal is cut at the last fsync'd
/// offset the server reported (INFO journal_fsynced_offset) before the acknowledgements counted, and half the
/// rounds run with <c>--journal-wait poll</c>, half with <c>sleep</c>. The
/// external worker is the side effect counted: every external task is delivered at least once, and one
/// delivered twice is only ever one that was in flight at a kill (fetched, its ACK not acknowledged).
/// JOURNAL_CRASH_KILLS sets the kills per policy (default 20; benchmarks/crash-soak.sh runs more).
/// </summary>
public sealed class JournalCrashTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "eventloop-journal-crash-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }

    private static int Kills => int.TryParse(Environment.GetEnvironmentVariable("JOURNAL_CRASH_KILLS"), out int kills) ? kills : 20;

    [Theory]
    [InlineData("always")]
    [InlineData("everysec")]
    [InlineData("no")]
    public async Task AcknowledgedTasksSurviveKill9(string policy)
    {
        string[] serve = ["--appendonly", "yes", "--dir", _dir, "--appendfsync", policy, "--workers", "2"];
        var submitted = new HashSet<string>(); // every acknowledged SUBMIT id that must survive
        var acked = new HashSet<string>(); // every external task whose ACK was acknowledged
        var random = new Random(policy.GetHashCode() & 0x7fffffff);
        var clock = Stopwatch.StartNew();
        int powerLosses = 0;
        HashSet<string> lastRound = [];
        var deliveries = new Dictionary<string, int>(); // external deliveries per task, over every round
        var mayRepeat = new HashSet<string>(); // delivered, but no acknowledged ACK survived: may come again
        for (int kill = 0; kill < Kills; kill++)
        {
            // Under always, half the rounds (kills with and without power loss alike) poll for the fsync instead of sleeping.
            using CliServer server = await CliServer.StartAsync(policy == "always" ? [.. serve, "--journal-wait", kill % 4 < 2 ? "poll" : "sleep"] : serve);
            // The last round's tasks in full (the ones a lost batch would take), a sample of the older ones.
            Verify(server.Port, [.. lastRound, .. submitted.Except(lastRound).OrderBy(_ => random.Next()).Take(2000)], acked, $"after kill {kill}");
            var round = new Traffic();
            var cancel = new CancellationTokenSource();
            Task[] clients = [
                .. Enumerable.Range(0, 4).Select(i => Task.Run(() => Produce(server.Port, round, i, cancel.Token))),
                Task.Run(() => Work(server.Port, round, cancel.Token)),
            ];
            await Task.Delay(random.Next(120, 350));
            bool powerLoss = policy == "always" && kill % 2 == 1;
            HashSet<string> mustSubmit = [], mustAck = [];
            long fsyncedOffset = -1;
            if (powerLoss)
            {
                // Acknowledged before INFO was asked: their batches were fsync'd at or below the offset it reports.
                (mustSubmit, mustAck) = round.Snapshot();
                using var info = new RespPipe(server.Port);
                fsyncedOffset = long.Parse(Regex.Match((string)info.Call("INFO", "persistence")!, @"journal_fsynced_offset:(\d+)").Groups[1].Value);
            }
            server.Kill();
            cancel.Cancel();
            await Task.WhenAll(clients);
            if (!powerLoss)
                (mustSubmit, mustAck) = round.Snapshot();
            else
            {
                string path = Path.Combine(_dir, "eventloop.journal");
                using (var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
                {
                    Assert.True(file.Length >= fsyncedOffset, $"journal {file.Length} bytes, fsync'd offset {fsyncedOffset}");
                    file.SetLength(fsyncedOffset);
                }
                powerLosses++;
            }
            submitted.UnionWith(mustSubmit);
            acked.UnionWith(mustAck);
            lastRound = mustSubmit;
            foreach (string id in round.Fetched())
            {
                Assert.True(!deliveries.ContainsKey(id) || mayRepeat.Contains(id), $"task {id} was delivered again after its ACK was acknowledged");
                deliveries[id] = deliveries.GetValueOrDefault(id) + 1;
                if (!mustAck.Contains(id))
                    mayRepeat.Add(id);
            }
        }
        using (CliServer server = await CliServer.StartAsync(serve))
        {
            Verify(server.Port, submitted, acked, "at the end");
            foreach (string id in CompleteEverything(server.Port, submitted))
            {
                Assert.True(!deliveries.ContainsKey(id) || mayRepeat.Contains(id), $"task {id} was delivered again after its ACK was acknowledged");
                deliveries[id] = deliveries.GetValueOrDefault(id) + 1;
            }
        }
        int repeated = deliveries.Count(d => d.Value > 1);
        output.WriteLine($"{policy}: {Kills} kills ({powerLosses} with power loss), {submitted.Count} acknowledged tasks, {acked.Count} acknowledged ACKs, " +
                         $"{deliveries.Count} tasks delivered to the worker, {repeated} of them more than once (each in flight at a kill), {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.True(submitted.Count > Kills * 10, $"only {submitted.Count} tasks acknowledged in {Kills} rounds");
        Assert.NotEmpty(acked);
    }

    /// <summary>What one round's clients were told.</summary>
    private sealed class Traffic
    {
        private readonly object _gate = new();
        private readonly HashSet<string> _submitted = [];
        private readonly HashSet<string> _acked = [];
        private readonly List<string> _fetched = [];

        public void Fetched(string id)
        {
            lock (_gate)
                _fetched.Add(id);
        }

        public List<string> Fetched()
        {
            lock (_gate)
                return [.. _fetched];
        }

        public void Submitted(string id)
        {
            lock (_gate)
                _submitted.Add(id);
        }

        public void Acked(string id)
        {
            lock (_gate)
                _acked.Add(id);
        }

        public (HashSet<string>, HashSet<string>) Snapshot()
        {
            lock (_gate)
                return ([.. _submitted], [.. _acked]);
        }
    }

    private static void Produce(int port, Traffic traffic, int client, CancellationToken cancel)
    {
        try
        {
            using var pipe = new RespPipe(port, timeoutMs: 5000);
            for (int n = 0; !cancel.IsCancellationRequested; n++)
            {
                for (int i = 0; i < 16; i++)
                {
                    if ((n + i) % 2 == 0)
                        pipe.Queue("SUBMIT", "echo", "ARGS", $"c{client}-{n}-{i}");
                    else
                        pipe.Queue("SUBMIT", "ext", "QUEUE", "crash", "ARGS", $"c{client}-{n}-{i}");
                }
                pipe.Flush();
                for (int i = 0; i < 16; i++)
                {
                    if (pipe.Read() is string id)
                        traffic.Submitted(id);
                }
                Thread.Sleep(4); // a few thousand tasks a round: enough to kill mid-batch, few enough to check them all
            }
        }
        catch (Exception gone) when (gone is IOException or System.Net.Sockets.SocketException or EndOfStreamException or ObjectDisposedException)
        {
            // The server was killed: what was acknowledged before is recorded.
        }
    }

    private static void Work(int port, Traffic traffic, CancellationToken cancel)
    {
        try
        {
            using var pipe = new RespPipe(port, timeoutMs: 5000);
            while (!cancel.IsCancellationRequested)
            {
                if (pipe.Call("FETCH", "COUNT", "8", "BLOCK", "100", "FROM", "crash") is not object?[] { Length: > 0 } tasks)
                    continue;
                foreach (object?[] task in tasks.Cast<object?[]>())
                {
                    traffic.Fetched((string)task[0]!);
                    pipe.Queue("ACK", (string)task[0]!, ((long)task[1]!).ToString(), "ok");
                }
                pipe.Flush();
                foreach (object?[] task in tasks.Cast<object?[]>())
                {
                    if (pipe.Read() is "OK")
                        traffic.Acked((string)task[0]!);
                }
            }
        }
        catch (Exception gone) when (gone is IOException or System.Net.Sockets.SocketException or EndOfStreamException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Every acknowledged task exists; every acknowledged ACK left its task succeeded.</summary>
    private static void Verify(int port, IEnumerable<string> submitted, HashSet<string> acked, string when)
    {
        using var pipe = new RespPipe(port);
        foreach (string[] chunk in submitted.Chunk(1000))
        {
            foreach (string id in chunk)
                pipe.Queue("STATUS", id);
            pipe.Flush();
            foreach (string id in chunk)
            {
                object? status = pipe.Read();
                Assert.True(status is object?[], $"{when}: acknowledged task {id} is missing");
                string state = (string)((object?[])status!)[7]!;
                if (acked.Contains(id))
                    Assert.True(state == "succeeded", $"{when}: task {id} was ACKed but is {state}");
            }
        }
    }

    /// <summary>Runs every task to the end: the in-process ones finish by themselves, the external ones are fetched and ACKed.</summary>
    /// <returns>The ids the final worker was given.</returns>
    private static List<string> CompleteEverything(int port, HashSet<string> submitted)
    {
        var delivered = new List<string>();
        using var pipe = new RespPipe(port, timeoutMs: 60_000);
        while (pipe.Call("FETCH", "COUNT", "1000", "FROM", "crash") is object?[] { Length: > 0 } tasks)
        {
            foreach (object?[] task in tasks.Cast<object?[]>())
            {
                delivered.Add((string)task[0]!);
                pipe.Queue("ACK", (string)task[0]!, ((long)task[1]!).ToString(), "ok");
            }
            pipe.Flush();
            for (int i = 0; i < tasks.Length; i++)
                Assert.Equal("OK", pipe.Read());
        }
        foreach (string[] chunk in submitted.Chunk(1000))
            Assert.Equal((long)chunk.Length, pipe.Call(["WAIT", "30000", .. chunk]));
        foreach (string[] chunk in submitted.Chunk(1000))
        {
            foreach (string id in chunk)
                pipe.Queue("STATUS", id);
            pipe.Flush();
            foreach (string id in chunk)
                Assert.Equal("succeeded", ((object?[])pipe.Read()!)[7]);
        }
        return delivered;
    }
}
