using System.Text;

namespace EventLoop.Tests.Server;

/// <summary>Replies leave in request order; full queues pause, never drop.</summary>
public sealed class OrderingAndBackpressureTests
{
    [Fact]
    public async Task A_slow_task_then_ping_answer_in_request_order()
    {
        await using var server = new TestServer();
        using RawConnection client = server.Connect();
        client.Send([.. RawConnection.Encode("RUN", "sleep", "100"), .. RawConnection.Encode("PING")]);
        Assert.Equal("$2\r\nOK\r\n", client.ReadReply());
        Assert.Equal("+PONG\r\n", client.ReadReply());
    }

    [Fact]
    public async Task Tasks_finishing_out_of_order_are_answered_in_order()
    {
        await using var server = new TestServer(new ServerOptions { Workers = 3 });
        using RawConnection client = server.Connect();
        var pipeline = new List<byte>();
        pipeline.AddRange(RawConnection.Encode("RUN", "sleep", "150"));
        pipeline.AddRange(RawConnection.Encode("RUN", "sleep", "10"));
        pipeline.AddRange(RawConnection.Encode("ECHO", "inline"));
        pipeline.AddRange(RawConnection.Encode("RUN", "echo", "fast"));
        pipeline.AddRange(RawConnection.Encode("RUN", "fail", "late error"));
        pipeline.AddRange(RawConnection.Encode("PING"));
        client.Send([.. pipeline]);
        Assert.Equal("$2\r\nOK\r\n", client.ReadReply());
        Assert.Equal("$2\r\nOK\r\n", client.ReadReply());
        Assert.Equal("$6\r\ninline\r\n", client.ReadReply());
        Assert.Equal("$4\r\nfast\r\n", client.ReadReply());
        Assert.Equal("-ERR task 'fail' failed: late error\r\n", client.ReadReply());
        Assert.Equal("+PONG\r\n", client.ReadReply());
    }

    [Fact]
    public async Task A_thousand_concurrent_connections_each_get_their_own_answers()
    {
        await using var server = new TestServer();
        var clients = new List<RawConnection>();
        try
        {
            for (int i = 0; i < 1000; i++)
                clients.Add(server.Connect());
            for (int i = 0; i < clients.Count; i++)
                clients[i].SendCommand("RUN", "echo", $"client-{i}");
            for (int i = 0; i < clients.Count; i++)
            {
                string expected = $"client-{i}";
                Assert.Equal($"${expected.Length}\r\n{expected}\r\n", clients[i].ReadReply());
            }
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task A_full_ring_stalls_and_recovers_without_loss()
    {
        await using var server = new TestServer(new ServerOptions { Workers = 1, RingCapacity = 2 });
        using RawConnection busy = server.Connect();
        using RawConnection other = server.Connect();
        const int requests = 300;
        var pipeline = new List<byte>();
        for (int i = 0; i < requests; i++)
            pipeline.AddRange(RawConnection.Encode("RUN", "echo", i.ToString()));
        busy.Send([.. pipeline]);
        other.Send([.. pipeline]);
        for (int i = 0; i < requests; i++)
        {
            string expected = i.ToString();
            Assert.Equal($"${expected.Length}\r\n{expected}\r\n", busy.ReadReply());
            Assert.Equal($"${expected.Length}\r\n{expected}\r\n", other.ReadReply());
        }
        string info = busy.Call("INFO", "queue");
        long stalls = long.Parse(info.Split("\r\n").Single(l => l.StartsWith("ring_full_stalls:"))["ring_full_stalls:".Length..]);
        Assert.True(stalls > 0, "the ring of 2 never filled: the test did not exercise backpressure");
    }

    [Fact]
    public async Task A_connection_over_its_inflight_limit_is_paused_not_failed()
    {
        await using var server = new TestServer(new ServerOptions { MaxInflight = 4 });
        using RawConnection client = server.Connect();
        var pipeline = new List<byte>();
        for (int i = 0; i < 50; i++)
            pipeline.AddRange(RawConnection.Encode("RUN", "sleep", "1"));
        client.Send([.. pipeline]);
        for (int i = 0; i < 50; i++)
            Assert.Equal("$2\r\nOK\r\n", client.ReadReply());
        Assert.Matches(@"inflight_pauses:[1-9]\d*\r\n", client.Call("INFO", "queue"));
    }

    [Fact]
    public async Task A_throwing_task_leaves_the_worker_alive()
    {
        await using var server = new TestServer(new ServerOptions { Workers = 1 }, s =>
            s.Tasks.Register("explode", (_, _) => throw new DivideByZeroException("no way")));
        using RawConnection client = server.Connect();
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal("-ERR task 'explode' failed: no way\r\n", client.Call("RUN", "explode"));
            Assert.Equal("$2\r\nok\r\n", client.Call("RUN", "echo", "ok"));
        }
    }

    [Fact]
    public async Task Every_request_split_byte_by_byte_is_answered_once()
    {
        await using var server = new TestServer();
        using RawConnection client = server.Connect();
        byte[] pipeline = [.. RawConnection.Encode("RUN", "echo", "split"), .. Encoding.ASCII.GetBytes("PING\r\n"), .. RawConnection.Encode("ECHO", "z")];
        foreach (byte b in pipeline)
        {
            client.Send([b]);
            await Task.Delay(1);
        }
        Assert.Equal("$5\r\nsplit\r\n", client.ReadReply());
        Assert.Equal("+PONG\r\n", client.ReadReply());
        Assert.Equal("$1\r\nz\r\n", client.ReadReply());
    }
}
