using System.Buffers;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using EventLoop.Tests.Server;

namespace EventLoop.Tests.Fuzz;

/// <summary>Inputs the fuzz runs found mishandled, each reduced to a deterministic scenario.</summary>
public sealed class FuzzRegressionTests
{
    /// <summary>
    /// Found by the server fuzz (long pipelines of RUN echo on twenty connections, some reset): a task request
    /// stalled on a full ring is counted in tasks_submitted at once; when its client disconnects before the ring
    /// frees, the request is dropped but never counted as completed, so INFO shows tasks_in_progress:1 forever.
    /// </summary>
    [Fact]
    public async Task A_request_stalled_on_a_full_ring_and_dropped_with_its_client_is_not_left_in_progress()
    {
        // Tasks hold their worker until the test opens their gate: no step depends on how fast the machine is.
        var gates = new Dictionary<string, ManualResetEventSlim> { ["blocker"] = new(), ["victim"] = new(), ["filler"] = new() };
        await using var server = new TestServer(new ServerOptions { Workers = 2, RingCapacity = 2 },
            s => s.Tasks.Register("hold", (args, result) =>
            {
                gates[args.GetString(0)].Wait(TimeSpan.FromSeconds(60));
                result.Write("OK"u8);
            }));
        using RawConnection observer = server.Connect();
        using RawConnection blocker = server.Connect();
        using RawConnection filler = server.Connect();
        RawConnection victim = server.Connect();

        blocker.SendCommand("RUN", "hold", "blocker"); // holds one worker
        await WaitForInfo(observer, "tasks_submitted:1", "ring_depth:0");
        victim.SendCommand("RUN", "hold", "victim"); // holds the other
        await WaitForInfo(observer, "tasks_submitted:2", "ring_depth:0");
        filler.Send([.. RawConnection.Encode("RUN", "hold", "filler"), .. RawConnection.Encode("RUN", "hold", "filler"),
            .. RawConnection.Encode("RUN", "hold", "filler")]); // two fill the ring, the third stalls first in line
        await WaitForInfo(observer, "ring_depth:2", "stalled_clients:1");
        victim.SendCommand("RUN", "echo", "never runs"); // stalls behind the filler
        await WaitForInfo(observer, "stalled_clients:2");
        victim.Socket.LingerState = new LingerOption(true, 0);
        victim.Dispose(); // reset: writing the held task's reply fails and closes the victim while its echo is stalled
        gates["victim"].Set();
        await WaitForInfo(observer, "connected_clients:3");

        gates["blocker"].Set();
        gates["filler"].Set();
        Assert.Equal("$2\r\nOK\r\n", blocker.ReadReply());
        for (int i = 0; i < 3; i++)
            Assert.Equal("$2\r\nOK\r\n", filler.ReadReply());
        await WaitForInfo(observer, "connected_clients:3", "tasks_in_progress:0");
    }

    /// <summary>
    /// Found while reducing the case above: a paused connection (requests in flight at max-inflight) that the
    /// peer resets keeps reporting EPOLLERR/EPOLLHUP; the reactor hands that to ReadFrom, which returns at once
    /// because the connection may not parse, and level-triggered epoll reports it again: the loop spins at full
    /// speed until the connection's tasks finish.
    /// </summary>
    [Fact]
    public async Task A_paused_connection_reset_by_its_peer_does_not_make_the_loop_spin()
    {
        await using var server = new TestServer(new ServerOptions { MaxInflight = 1 });
        using RawConnection observer = server.Connect();
        RawConnection victim = server.Connect();
        victim.Send([.. RawConnection.Encode("RUN", "sleep", "2000"), .. RawConnection.Encode("PING")]); // paused after the sleep
        await WaitForInfo(observer, "tasks_submitted:1", "inflight_pauses:1");
        victim.Socket.LingerState = new LingerOption(true, 0);
        victim.Dispose();
        await Task.Delay(100);

        long before = LoopIterations(observer);
        await Task.Delay(500);
        long during = LoopIterations(observer) - before;

        // An idle loop wakes for housekeeping and the observer's INFO: tens of iterations, not thousands.
        Assert.InRange(during, 0, 1000);
    }

    private static long LoopIterations(RawConnection client) =>
        long.Parse(Regex.Match(client.Call("INFO", "reactor"), @"loop_iterations:(\d+)").Groups[1].Value);

    private static async Task WaitForInfo(RawConnection client, params string[] lines)
    {
        string info = "";
        for (var deadline = DateTime.UtcNow.AddSeconds(10); DateTime.UtcNow < deadline; await Task.Delay(10))
        {
            info = client.Call("INFO");
            if (lines.All(line => info.Contains(line + "\r\n", StringComparison.Ordinal)))
                return;
        }
        Assert.Fail($"INFO never showed {string.Join(", ", lines)} within 10 s:\n{info}");
    }
}
