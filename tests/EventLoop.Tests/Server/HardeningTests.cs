using System.Buffers;

namespace EventLoop.Tests.Server;

/// <summary>Limits, timeouts and access control: each case tried over real sockets.</summary>
public sealed class HardeningTests
{
    [Fact]
    public async Task Every_command_but_auth_hello_and_quit_needs_the_password()
    {
        await using var server = new TestServer(new ServerOptions { RequirePass = "s3cret" });
        using RawConnection client = server.Connect();
        Assert.Equal("-NOAUTH Authentication required.\r\n", client.Call("PING"));
        Assert.Equal("-NOAUTH Authentication required.\r\n", client.Call("RUN", "echo", "x"));
        Assert.Equal("-WRONGPASS invalid username-password pair or user is disabled.\r\n", client.Call("AUTH", "guess"));
        Assert.Equal("-WRONGPASS invalid username-password pair or user is disabled.\r\n", client.Call("AUTH", "admin", "s3cret"));
        Assert.Equal("+OK\r\n", client.Call("AUTH", "s3cret"));
        Assert.Equal("$1\r\nx\r\n", client.Call("RUN", "echo", "x"));

        using RawConnection viaHello = server.Connect();
        Assert.StartsWith("-NOAUTH HELLO must be called", viaHello.Call("HELLO", "2"));
        Assert.StartsWith("*14\r\n", viaHello.Call("HELLO", "2", "AUTH", "default", "s3cret"));
        Assert.Equal("+PONG\r\n", viaHello.Call("PING"));

        using RawConnection quitter = server.Connect();
        quitter.SendCommand("QUIT");
        Assert.Equal("+OK\r\n", quitter.ReadToClose());
    }

    [Theory]
    [InlineData("*11\r\n", "-ERR Protocol error: unauthenticated multibulk length\r\n")]
    [InlineData("*2\r\n$4\r\nECHO\r\n$2097152\r\n", "-ERR Protocol error: unauthenticated bulk length\r\n")]
    [InlineData("*2\r\n$4\r\nAUTH\r\n$16385\r\n", "-ERR Protocol error: unauthenticated bulk length\r\n")]
    public async Task Before_auth_a_long_multibulk_or_a_large_bulk_is_refused_at_its_header_then_closed(string header, string expected)
    {
        await using var server = new TestServer(new ServerOptions { RequirePass = "s3cret" });
        using RawConnection client = server.Connect();
        client.Send(header); // what the header announces never has to arrive
        Assert.Equal(expected, client.ReadToClose(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Before_auth_inline_requests_are_bounded_too_and_after_auth_the_normal_limits_apply()
    {
        await using var server = new TestServer(new ServerOptions { RequirePass = "s3cret" });
        using RawConnection inline = server.Connect();
        inline.Send(new string('x', 16 * 1024 + 1));
        Assert.Equal("-ERR Protocol error: too big inline request\r\n", inline.ReadToClose(TimeSpan.FromSeconds(5)));

        using RawConnection client = server.Connect();
        string atLimit = new('x', 16 * 1024);
        Assert.Equal("-NOAUTH Authentication required.\r\n", client.Call("ECHO", atLimit));
        Assert.Equal("-NOAUTH Authentication required.\r\n", client.Call("RUN", "echo", "1", "2", "3", "4", "5", "6", "7"));
        Assert.Equal("+OK\r\n", client.Call("AUTH", "s3cret"));
        string large = new('y', 1 << 20);
        Assert.Equal($"${large.Length}\r\n{large}\r\n", client.Call("ECHO", large));
        Assert.Equal("-ERR task 'echo' failed: expects 1 argument, got 11\r\n", client.Call("RUN", "echo", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"));
    }

    [Fact]
    public void Protected_mode_refuses_a_public_address_without_a_password()
    {
        var refused = Assert.Throws<ArgumentException>(() => new EventLoopServer(new ServerOptions { BindAddress = "0.0.0.0", Port = 0 }));
        Assert.Contains("without a password", refused.Message);
        _ = new EventLoopServer(new ServerOptions { BindAddress = "0.0.0.0", Port = 0, RequirePass = "x" });
        _ = new EventLoopServer(new ServerOptions { BindAddress = "0.0.0.0", Port = 0, ProtectedMode = false });
    }

    [Fact]
    public async Task A_request_left_incomplete_past_the_request_timeout_is_closed()
    {
        await using var server = new TestServer(new ServerOptions { RequestTimeout = TimeSpan.FromSeconds(1) });
        using RawConnection slow = server.Connect();
        using RawConnection steady = server.Connect();
        slow.Send("*2\r\n$4\r\nECHO\r\n$5\r\nab");
        Assert.Equal("-ERR request incomplete for more than 1 s\r\n", slow.ReadToClose(TimeSpan.FromSeconds(10)));
        Assert.Equal("+PONG\r\n", steady.Call("PING"));
    }

    [Fact]
    public async Task Idle_connections_are_closed_after_the_idle_timeout()
    {
        await using var server = new TestServer(new ServerOptions { IdleTimeout = TimeSpan.FromSeconds(1) });
        using RawConnection idle = server.Connect();
        Assert.Equal("+PONG\r\n", idle.Call("PING"));
        Assert.Equal("", idle.ReadToClose(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_hung_task_times_out_and_its_worker_is_replaced()
    {
        using var release = new ManualResetEventSlim();
        await using var server = new TestServer(new ServerOptions { Workers = 1, TaskTimeout = TimeSpan.FromMilliseconds(500) },
            s => s.Tasks.Register("hang", (_, result) => { release.Wait(TimeSpan.FromSeconds(60)); result.Write("late"u8); }));
        try
        {
            using RawConnection client = server.Connect();
            client.Send([.. RawConnection.Encode("RUN", "hang"), .. RawConnection.Encode("RUN", "echo", "after")]);
            Assert.Equal("-ERR task 'hang' timed out after 0.5 s\r\n", client.ReadReply());
            Assert.Equal("$5\r\nafter\r\n", client.ReadReply()); // served by the replacement worker
            string info = client.Call("INFO", "workers");
            Assert.Contains("workers:1\r\n", info);
            Assert.Contains("workers_replaced:1\r\n", info);
        }
        finally
        {
            release.Set();
        }
    }

    [Fact]
    public async Task A_reply_larger_than_the_output_limit_becomes_an_error()
    {
        await using var server = new TestServer(new ServerOptions { MaxOutputBytes = 1 << 20 }, RegisterBlob);
        using RawConnection client = server.Connect();
        Assert.Equal("-ERR reply of 2097164 bytes exceeds max-output-bytes (1048576)\r\n", client.Call("RUN", "blob", "2097152"));
        Assert.Equal("$3\r\nxxx\r\n", client.Call("RUN", "blob", "3"));
    }

    [Fact]
    public async Task A_peer_that_never_reads_is_disconnected_at_the_output_limit_and_memory_stays_bounded()
    {
        await using var server = new TestServer(new ServerOptions { MaxOutputBytes = 8 << 20 }, RegisterBlob);
        using RawConnection observer = server.Connect();
        using RawConnection sink = server.Connect();
        // 1 GiB of replies asked for with a few kilobytes of requests; the sink never reads.
        byte[] request = RawConnection.Encode("RUN", "blob", (1 << 20).ToString());
        byte[] pipeline = [.. Enumerable.Repeat(request, 1024).SelectMany(r => r)];
        sink.Send(pipeline);
        await FaultTests.WaitUntil(() => observer.Call("INFO", "stats").Contains("output_limit_disconnects:1\r\n"), 30_000);
        Assert.True(sink.IsClosedByServer(TimeSpan.FromSeconds(10)));
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        long heap = GC.GetTotalMemory(forceFullCollection: true);
        Assert.True(heap < 256L << 20, $"managed heap after the disconnect is {heap >> 20} MiB");
        Assert.Equal("+PONG\r\n", observer.Call("PING"));
    }

    private static void RegisterBlob(EventLoopServer server) =>
        server.Tasks.Register("blob", (args, result) =>
        {
            long size = args.GetInt64(0);
            for (long written = 0; written < size; written += 4096)
            {
                int chunk = (int)Math.Min(4096, size - written);
                result.GetSpan(chunk)[..chunk].Fill((byte)'x');
                result.Advance(chunk);
            }
        });
}
