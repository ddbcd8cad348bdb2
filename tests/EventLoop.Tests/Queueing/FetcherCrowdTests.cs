using System.Diagnostics;
using System.Globalization;
using EventLoop.Client;
using EventLoop.Tests.Server;
using static EventLoop.Tests.Queueing.QueueKit;

namespace EventLoop.Tests.Queueing;

/// <summary>A thousand connections blocked in <c>FETCH BLOCK 0</c>: parked on the reactor, no thread each, and served oldest first.</summary>
[Collection(RunAloneCollection.Name)]
public sealed class FetcherCrowdTests : IAsyncLifetime
{
    private const int Fetchers = 1000;
    /// <summary>Threads the process may gain while the crowd parks: far below one per fetcher, above a runtime's incidental ones.</summary>
    private const int ThreadSlack = 25;
    private TestServer _server = null!;

    public Task InitializeAsync()
    {
        _server = new TestServer();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public void A_thousand_blocked_fetchers_hold_no_thread_and_a_thousand_submits_serve_each_once_oldest_first()
    {
        using RawConnection observer = _server.Connect();
        Assert.Equal(0, WorkersInfo(observer, "external_blocked_fetchers"));
        var crowd = new List<RawConnection>(Fetchers);
        try
        {
            for (int i = 0; i < Fetchers; i++)
                crowd.Add(_server.Connect());
            int before = ProcessThreads();

            // One at a time, each seen blocked before the next: the order they blocked in is known.
            for (int i = 0; i < Fetchers; i++)
            {
                crowd[i].SendCommand("FETCH", "BLOCK", "0", "FROM", "crowd");
                AwaitBlocked(observer, i + 1);
            }
            int parked = ProcessThreads();
            Assert.True(parked - before <= ThreadSlack, $"{Fetchers} blocked fetchers took the process from {before} to {parked} threads");
            Assert.Equal("+PONG\r\n", observer.Call("PING")); // the reactor still serves others
            Assert.All(crowd.Take(10), c => Assert.Equal(0, c.Socket.Available)); // nobody answered yet

            using RawConnection producer = _server.Connect();
            string[] ids = ParkingTests.SubmitPipelined(producer, Fetchers, i => ["SUBMIT", "resize", "QUEUE", "crowd", "ARGS", $"{i}"]);
            var served = new string[Fetchers];
            for (int i = 0; i < Fetchers; i++)
            {
                RespValue reply = Parse(crowd[i].ReadReply(Patience));
                RespValue task = Assert.Single(reply.Elements); // FETCH's default COUNT 1: exactly one task each
                Assert.Equal(1, task.Elements[1].IntegerValue);
                served[i] = task.Elements[0].Text!;
            }
            Assert.Equal(ids, served); // oldest blocked fetcher first, each taking the oldest task left
            Assert.Equal(0, WorkersInfo(observer, "external_blocked_fetchers"));
            Assert.Equal(Fetchers, WorkersInfo(observer, "external_leased_tasks"));
            Assert.Equal("*0\r\n", observer.Call("FETCH", "FROM", "crowd")); // none left over, none handed out twice
        }
        finally
        {
            crowd.ForEach(c => c.Dispose());
        }
    }

    private static void AwaitBlocked(RawConnection observer, long expected)
    {
        var clock = Stopwatch.StartNew();
        long value;
        while ((value = WorkersInfo(observer, "external_blocked_fetchers")) != expected)
        {
            if (clock.Elapsed > Patience)
                throw new TimeoutException($"external_blocked_fetchers stayed {value}, expected {expected}");
            Thread.Yield();
        }
    }

    private static long WorkersInfo(RawConnection connection, string key)
    {
        string text = Parse(connection.Call("INFO", "workers")).Text ?? "";
        string line = text.Split("\r\n").Single(l => l.StartsWith(key + ":", StringComparison.Ordinal));
        return long.Parse(line[(key.Length + 1)..], CultureInfo.InvariantCulture);
    }

    /// <summary>The process's thread count as the kernel sees it (every runtime and native thread).</summary>
    private static int ProcessThreads()
    {
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("Threads:", StringComparison.Ordinal));
        return int.Parse(line["Threads:".Length..].Trim(), CultureInfo.InvariantCulture);
    }
}
