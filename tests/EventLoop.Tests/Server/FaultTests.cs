using System.Net.Sockets;

namespace EventLoop.Tests.Server;

/// <summary>Bad input and misbehaving peers get a defined answer and disturb no one else.</summary>
public sealed class FaultTests
{
    [Theory]
    [InlineData("*1\r\n$x\r\n", "-ERR Protocol error: invalid bulk length\r\n")]
    [InlineData("*1\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length\r\n")]
    [InlineData("*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n")]
    [InlineData("*2\r\n:1\r\n", "-ERR Protocol error: expected '$', got ':'\r\n")]
    [InlineData("*1\r\n$4\r\nPINGxx", "-ERR Protocol error: expected CRLF after bulk string\r\n")]
    [InlineData("*1\r\n$99999999999\r\n", "-ERR Protocol error: invalid bulk length\r\n")]
    [InlineData("*1\r\n$2147483647\r\n", "-ERR Protocol error: invalid bulk length\r\n")]
    [InlineData("*9999999\r\n", "-ERR Protocol error: invalid multibulk length\r\n")]
    [InlineData("ECHO \"unterminated\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n")]
    public async Task A_malformed_frame_is_answered_with_a_protocol_error_then_closed(string frame, string expected)
    {
        await using var server = new TestServer();
        using RawConnection bystander = server.Connect();
        using RawConnection client = server.Connect();
        client.Send("PING\r\n" + frame);
        Assert.Equal("+PONG\r\n" + expected, client.ReadToClose());
        Assert.Equal("+PONG\r\n", bystander.Call("PING"));
    }

    /// <summary>
    /// The peer pipelined more after QUIT, bytes the server never reads. Closing with unread input makes the
    /// kernel send a reset, which can destroy replies the peer has not read: the server must end with a FIN
    /// after its replies instead. (A protocol error ends the same way: the conformance tests, per backend.)
    /// </summary>
    [Fact]
    public async Task Bytes_sent_after_quit_do_not_turn_the_close_into_a_reset()
    {
        await using var server = new TestServer();
        using RawConnection client = server.Connect();
        client.Socket.SendTimeout = 10_000;
        client.Send([.. "PING\r\nQUIT\r\n"u8, .. new byte[100_000]]);
        Thread.Sleep(200); // the server has answered and finished by now
        const string expected = "+PONG\r\n+OK\r\n";
        Assert.Equal(expected, client.ReadString(expected.Length));
        client.AssertOrderlyClose();
    }

    [Fact]
    public async Task A_finished_connection_whose_peer_never_closes_is_closed_after_lingering()
    {
        await using var server = new TestServer();
        using RawConnection bystander = server.Connect();
        using RawConnection client = server.Connect();
        client.Send("QUIT\r\nPING\r\n");
        Assert.Equal("+OK\r\n", client.ReadToClose()); // the FIN; this side stays open and silent
        await WaitUntil(() => Info(bystander).Contains("connected_clients:1\r\n")); // lingering ends by itself
    }

    [Fact]
    public async Task An_oversized_length_is_refused_without_waiting_for_the_data()
    {
        await using var server = new TestServer(new ServerOptions { MaxArgBytes = 1024 });
        using RawConnection client = server.Connect();
        client.Send("*2\r\n$4\r\nECHO\r\n$1025\r\n");
        Assert.Equal("-ERR Protocol error: invalid bulk length\r\n", client.ReadToClose(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Connections_beyond_max_clients_are_told_and_closed()
    {
        await using var server = new TestServer(new ServerOptions { MaxClients = 2 });
        using RawConnection first = server.Connect();
        using RawConnection second = server.Connect();
        Assert.Equal("+PONG\r\n", first.Call("PING"));
        Assert.Equal("+PONG\r\n", second.Call("PING"));
        using RawConnection third = server.Connect();
        Assert.Equal("-ERR max number of clients reached\r\n", third.ReadToClose());
        first.Dispose();
        // Once a slot frees, new clients are served again.
        await WaitUntil(() => Info(second).Contains("connected_clients:1\r\n"));
        using RawConnection fourth = server.Connect();
        Assert.Equal("+PONG\r\n", fourth.Call("PING"));
    }

    /// <summary>
    /// The refused peer pipelined far more than a refused socket's read-and-close takes in one go before the
    /// server accepted it: closing with that unread would reset the connection, and the reset can destroy the
    /// refusal before the peer reads it.
    /// </summary>
    [Fact]
    public async Task A_refused_connection_that_pipelined_a_lot_still_reads_the_refusal_and_an_orderly_close()
    {
        await using var server = new GatedServer("epoll", new ServerOptions { MaxClients = 1 });
        using RawConnection served = server.Connect();
        Assert.Equal("+PONG\r\n", served.Call("PING"));
        server.HoldAtNextWait(served);
        using RawConnection refused = server.Connect();
        refused.Socket.SendTimeout = 10_000;
        refused.Send([.. Enumerable.Repeat(RawConnection.Encode("PING"), 20_000).SelectMany(r => r)]); // 280 KB, before the accept
        server.Gate.Release();
        Thread.Sleep(300); // the server has refused it and read what it could by now
        const string expected = "-ERR max number of clients reached\r\n";
        Assert.Equal(expected, refused.ReadString(expected.Length));
        refused.AssertOrderlyClose();
        Assert.Equal("+PONG\r\n", served.ReadReply());
        Assert.Equal("+PONG\r\n", served.Call("PING"));
    }

    [Fact]
    public async Task A_negative_multibulk_count_is_an_empty_request_and_the_next_one_is_answered()
    {
        await using var server = new TestServer();
        using RawConnection client = server.Connect();
        client.Send("*-10\r\n*-9223372036854775808\r\nPING\r\n");
        Assert.Equal("+PONG\r\n", client.ReadReply());
        client.Send("*-0\r\n");
        Assert.Equal("-ERR Protocol error: invalid multibulk length\r\n", client.ReadToClose());
    }

    [Fact]
    public async Task A_peer_that_resets_mid_pipeline_frees_its_connection_without_disturbing_others()
    {
        await using var server = new TestServer();
        using RawConnection bystander = server.Connect();
        for (int round = 0; round < 20; round++)
        {
            RawConnection victim = server.Connect();
            var pipeline = new List<byte>();
            for (int i = 0; i < 50; i++)
                pipeline.AddRange(RawConnection.Encode("RUN", "sleep", "5"));
            victim.Send([.. pipeline]);
            victim.Socket.LingerState = new LingerOption(true, 0); // close sends RST
            victim.Dispose();
        }
        Assert.Equal("+PONG\r\n", bystander.Call("PING"));
        await WaitUntil(() => Info(bystander).Contains("connected_clients:1\r\n") && Info(bystander).Contains("tasks_in_progress:0\r\n"));
    }

    [Fact]
    public async Task A_half_closed_peer_still_gets_every_reply_then_the_connection_closes()
    {
        await using var server = new TestServer();
        using RawConnection client = server.Connect();
        client.Send([.. RawConnection.Encode("RUN", "sleep", "50"), .. RawConnection.Encode("RUN", "echo", "last")]);
        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal("$2\r\nOK\r\n$4\r\nlast\r\n", client.ReadToClose());
    }

    [Fact]
    public async Task A_client_that_leaves_while_its_task_runs_loses_only_its_reply()
    {
        await using var server = new TestServer();
        using RawConnection observer = server.Connect();
        using (RawConnection leaver = server.Connect())
        {
            leaver.SendCommand("RUN", "sleep", "1000");
            await WaitUntil(() => Info(observer).Contains("tasks_in_progress:1\r\n"));
        }
        await WaitUntil(() => Info(observer) is var info && info.Contains("tasks_in_progress:0\r\n") && info.Contains("connected_clients:1\r\n"));
        Assert.Contains("tasks_completed:1\r\n", Info(observer));
    }

    [Fact]
    public async Task A_paused_connection_whose_peer_resets_is_closed_without_the_loop_spinning()
    {
        await using var server = new TestServer(new ServerOptions { MaxInflight = 1 });
        using RawConnection observer = server.Connect();
        RawConnection paused = server.Connect();
        paused.Send([.. RawConnection.Encode("RUN", "sleep", "3000"), .. RawConnection.Encode("PING")]);
        await WaitUntil(() => Info(observer).Contains("inflight_pauses:1\r\n"));
        paused.Socket.LingerState = new LingerOption(true, 0);
        paused.Dispose(); // RST while the server is not reading from it and its task still runs
        await Task.Delay(200);
        long before = Iterations(observer);
        await Task.Delay(500);
        long iterations = Iterations(observer) - before;
        Assert.True(iterations < 100, $"{iterations} loop iterations in 0.5 s with nothing to do");
        Assert.Contains("connected_clients:1\r\n", Info(observer)); // closed at once, not when its task ends
    }

    private static long Iterations(RawConnection client) =>
        long.Parse(client.Call("INFO", "reactor").Split("\r\n").Single(l => l.StartsWith("loop_iterations:"))["loop_iterations:".Length..]);

    internal static string Info(RawConnection client) => client.Call("INFO");

    internal static async Task WaitUntil(Func<bool> condition, int timeoutMs = 10_000)
    {
        DateTime deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("condition not reached in time");
            await Task.Delay(20);
        }
    }
}
