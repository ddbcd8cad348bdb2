using System.Net.Sockets;
using EventLoop.Tests.Multiplexing;

namespace EventLoop.Tests.Server;

/// <summary>
/// The server behaves the same on every multiplexer backend: the integration scenarios, byte for byte,
/// once per backend. Only the kernel readiness API differs between the cases.
/// </summary>
/// <remarks>
/// In the descriptor-sensitive collection because the select cases need the server's descriptors below
/// FD_SETSIZE, which tests running alongside with a thousand sockets open would push past.
/// </remarks>
[Collection(nameof(DescriptorNumberSensitive))]
public sealed class BackendConformanceTests
{
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Ping_echo_and_run_answer_as_the_protocol_says(string backend)
    {
        await using var server = Start(backend);
        using RawConnection client = server.Connect();
        Assert.Equal("+PONG\r\n", client.Call("PING"));
        Assert.Equal("$2\r\nhi\r\n", client.Call("PING", "hi"));
        Assert.Equal("$11\r\nhello world\r\n", client.Call("ECHO", "hello world"));
        Assert.Equal("$4\r\ndata\r\n", client.Call("RUN", "echo", "data"));
        Assert.Equal("$64\r\nba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\r\n", client.Call("RUN", "sha256", "abc"));
        Assert.Equal("-ERR task 'fail' failed: boom\r\n", client.Call("RUN", "fail", "boom"));
        Assert.Equal("-ERR unknown command 'FLY'\r\n", client.Call("FLY"));
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Inline_commands_are_understood(string backend)
    {
        await using var server = Start(backend);
        using RawConnection client = server.Connect();
        client.Send("PING\r\nECHO \"two words\"\r\nRUN echo 'x y'\n");
        Assert.Equal("+PONG\r\n", client.ReadReply());
        Assert.Equal("$9\r\ntwo words\r\n", client.ReadReply());
        Assert.Equal("$3\r\nx y\r\n", client.ReadReply());
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task A_pipelined_slow_task_then_ping_answer_in_request_order(string backend)
    {
        await using var server = Start(backend);
        using RawConnection client = server.Connect();
        client.Send([.. RawConnection.Encode("RUN", "sleep", "100"), .. RawConnection.Encode("PING")]);
        Assert.Equal("$2\r\nOK\r\n+PONG\r\n", client.ReadReply() + client.ReadReply());
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Tasks_finishing_out_of_order_are_answered_in_order(string backend)
    {
        await using var server = Start(backend, new ServerOptions { Workers = 3 });
        using RawConnection client = server.Connect();
        client.Send(Pipeline(
            ["RUN", "sleep", "150"], ["RUN", "sleep", "10"], ["ECHO", "inline"],
            ["RUN", "echo", "fast"], ["RUN", "fail", "late"], ["PING"]));
        Assert.Equal("$2\r\nOK\r\n", client.ReadReply());
        Assert.Equal("$2\r\nOK\r\n", client.ReadReply());
        Assert.Equal("$6\r\ninline\r\n", client.ReadReply());
        Assert.Equal("$4\r\nfast\r\n", client.ReadReply());
        Assert.Equal("-ERR task 'fail' failed: late\r\n", client.ReadReply());
        Assert.Equal("+PONG\r\n", client.ReadReply());
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Two_hundred_concurrent_connections_each_get_their_own_answer(string backend)
    {
        await using var server = Start(backend);
        var clients = new List<RawConnection>();
        try
        {
            for (int i = 0; i < 200; i++)
                clients.Add(server.Connect());
            for (int i = 0; i < clients.Count; i++)
                clients[i].SendCommand("RUN", "echo", $"client-{i}");
            for (int i = 0; i < clients.Count; i++)
                Assert.Equal(Bulk($"client-{i}"), clients[i].ReadReply());
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    /// <summary>
    /// More connections wait in the backlog than one readiness event may accept: edge-triggered epoll
    /// announces the listener once for all of them, so the reactor must come back for the rest itself.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task A_burst_of_connections_beyond_the_accept_budget_is_accepted_in_full(string backend)
    {
        await using var server = new GatedServer(backend, new ServerOptions { AcceptBudget = 2 });
        using RawConnection nudge = server.Connect();
        server.HoldAtNextWait(nudge);
        var burst = Enumerable.Range(0, 7).Select(_ => server.Connect()).ToList();
        try
        {
            server.Gate.Release();
            for (int i = 0; i < burst.Count; i++)
                Assert.Equal(Bulk($"burst-{i}"), burst[i].Call("ECHO", $"burst-{i}"));
            Assert.Equal("+PONG\r\n", nudge.ReadReply());
        }
        finally
        {
            burst.ForEach(c => c.Dispose());
        }
    }

    /// <summary>
    /// A pipeline that arrived whole before the wait, longer than one readiness event may read (one read of
    /// 64 KiB here): edge-triggered epoll reports it once, so the reactor must come back for the rest itself.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task A_pipeline_longer_than_the_read_budget_is_answered_in_full(string backend)
    {
        await using var server = new GatedServer(backend, new ServerOptions { ReadBudget = 1 });
        using RawConnection nudge = server.Connect();
        using RawConnection client = server.Connect();
        const int pings = 16 * 1024; // 96 KiB: more than one read, less than the socket buffers hold unread
        client.Socket.SendTimeout = 10_000;
        server.HoldAtNextWait(nudge);
        client.Send(string.Concat(Enumerable.Repeat("PING\r\n", pings)));
        server.Gate.Release();
        Assert.Equal(string.Concat(Enumerable.Repeat("+PONG\r\n", pings)), client.ReadString(pings * "+PONG\r\n".Length));
        Assert.Equal("+PONG\r\n", nudge.ReadReply());
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task A_full_ring_stalls_and_recovers_without_loss(string backend)
    {
        await using var server = Start(backend, new ServerOptions { Workers = 1, RingCapacity = 2 });
        using RawConnection busy = server.Connect();
        using RawConnection other = server.Connect();
        const int requests = 300;
        byte[] pipeline = Pipeline([.. Enumerable.Range(0, requests).Select(i => new[] { "RUN", "echo", i.ToString() })]);
        busy.Send(pipeline);
        other.Send(pipeline);
        for (int i = 0; i < requests; i++)
        {
            Assert.Equal(Bulk(i.ToString()), busy.ReadReply());
            Assert.Equal(Bulk(i.ToString()), other.ReadReply());
        }
        Assert.Matches(@"ring_full_stalls:[1-9]\d*\r\n", busy.Call("INFO", "queue")); // else backpressure was never exercised
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task A_malformed_frame_is_answered_with_a_protocol_error_then_closed(string backend)
    {
        await using var server = Start(backend);
        using RawConnection bystander = server.Connect();
        using RawConnection client = server.Connect();
        // Bytes after the bad frame are never parsed; they must not turn the close into a reset either.
        client.Socket.SendTimeout = 10_000;
        client.Send([.. "PING\r\n*1\r\n$x\r\n"u8, .. new byte[100_000]]);
        const string expected = "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n";
        Assert.Equal(expected, client.ReadString(expected.Length));
        client.AssertOrderlyClose();
        Assert.Equal("+PONG\r\n", bystander.Call("PING"));
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task A_half_closed_peer_still_gets_its_replies_then_the_connection_closes(string backend)
    {
        await using var server = Start(backend);
        using RawConnection client = server.Connect();
        client.Send(Pipeline(["RUN", "sleep", "50"], ["RUN", "echo", "last"]));
        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal("$2\r\nOK\r\n$4\r\nlast\r\n", client.ReadToClose());
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task A_peer_reset_mid_pipeline_does_not_disturb_a_bystander(string backend)
    {
        await using var server = Start(backend);
        using RawConnection bystander = server.Connect();
        byte[] pipeline = Pipeline([.. Enumerable.Repeat(new[] { "RUN", "sleep", "5" }, 20)]);
        for (int round = 0; round < 10; round++)
        {
            RawConnection victim = server.Connect();
            victim.Send(pipeline);
            victim.Socket.LingerState = new LingerOption(true, 0); // close sends RST
            victim.Dispose();
            Assert.Equal(Bulk($"still {round}"), bystander.Call("ECHO", $"still {round}"));
        }
        await FaultTests.WaitUntil(() =>
        {
            string info = FaultTests.Info(bystander);
            return info.Contains("connected_clients:1\r\n") && info.Contains("tasks_in_progress:0\r\n");
        });
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task A_one_mebibyte_argument_is_echoed_intact(string backend)
    {
        await using var server = Start(backend);
        using RawConnection client = server.Connect();
        byte[] payload = new byte[1024 * 1024];
        new Random(7).NextBytes(payload);
        client.Send(RawConnection.EncodeBytes("RUN"u8.ToArray(), "echo"u8.ToArray(), payload));
        string header = $"${payload.Length}\r\n";
        Assert.Equal(header, client.ReadString(header.Length));
        Assert.Equal(payload, client.ReadBytes(payload.Length));
        Assert.Equal("\r\n", client.ReadString(2));
        Assert.Equal("+PONG\r\n", client.Call("PING"));
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Stopping_finishes_tasks_in_flight_and_flushes_their_replies(string backend)
    {
        TestServer server = Start(backend);
        var clients = Enumerable.Range(0, 5).Select(_ => server.Connect()).ToList();
        try
        {
            foreach (RawConnection client in clients)
                client.Send(Pipeline(["RUN", "sleep", "100"], ["RUN", "sleep", "100"], ["RUN", "sleep", "100"], ["PING"]));
            Assert.Equal("$2\r\nOK\r\n", clients[0].ReadReply()); // the first batch is running: everything was accepted
            Task stopping = server.Server.StopAsync();
            Assert.Equal("$2\r\nOK\r\n$2\r\nOK\r\n+PONG\r\n", clients[0].ReadToClose());
            foreach (RawConnection client in clients.Skip(1))
                Assert.Equal("$2\r\nOK\r\n$2\r\nOK\r\n$2\r\nOK\r\n+PONG\r\n", client.ReadToClose());
            await stopping.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Throws<SocketException>(() => RawConnection.Open(server.Port));
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
            await server.DisposeAsync();
        }
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Info_names_the_backend(string backend)
    {
        await using var server = Start(backend);
        using RawConnection client = server.Connect();
        string info = client.Call("INFO");
        Assert.Contains($"multiplexing_api:{backend}\r\n", info);
        Assert.Contains($"backend:{backend}\r\n", info);
        Assert.Equal(backend, server.Server.Backend);
    }

    private static TestServer Start(string backend, ServerOptions? options = null) =>
        new((options ?? new ServerOptions()) with { Backend = backend });

    private static byte[] Pipeline(params string[][] commands) => [.. commands.SelectMany(RawConnection.Encode)];

    private static string Bulk(string text) => $"${text.Length}\r\n{text}\r\n";
}
