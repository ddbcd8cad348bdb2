namespace EventLoop.Tests.Server;

/// <summary>Each command's reply, byte for byte, over a real loopback socket.</summary>
public sealed class CommandTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public Task InitializeAsync()
    {
        _server = new TestServer();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [InlineData(new[] { "PING" }, "+PONG\r\n")]
    [InlineData(new[] { "ping", "hi" }, "$2\r\nhi\r\n")]
    [InlineData(new[] { "ECHO", "hello world" }, "$11\r\nhello world\r\n")]
    [InlineData(new[] { "RUN", "echo", "data" }, "$4\r\ndata\r\n")]
    [InlineData(new[] { "run", "ECHO", "" }, "$0\r\n\r\n")]
    [InlineData(new[] { "RUN", "sha256", "abc" }, "$64\r\nba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\r\n")]
    [InlineData(new[] { "RUN", "spin", "10" }, "$2\r\nOK\r\n")]
    [InlineData(new[] { "RUN", "sleep", "1" }, "$2\r\nOK\r\n")]
    [InlineData(new[] { "RUN", "fail", "boom" }, "-ERR task 'fail' failed: boom\r\n")]
    [InlineData(new[] { "RUN", "echo" }, "-ERR task 'echo' failed: expects 1 argument, got 0\r\n")]
    [InlineData(new[] { "RUN", "sleep", "soon" }, "-ERR task 'sleep' failed: argument 1 is not an integer\r\n")]
    [InlineData(new[] { "RUN", "nosuch" }, "-ERR unknown task 'nosuch'\r\n")]
    [InlineData(new[] { "RUN" }, "-ERR wrong number of arguments for 'run' command\r\n")]
    [InlineData(new[] { "ECHO" }, "-ERR wrong number of arguments for 'echo' command\r\n")]
    [InlineData(new[] { "PING", "a", "b" }, "-ERR wrong number of arguments for 'ping' command\r\n")]
    [InlineData(new[] { "FLY", "away" }, "-ERR unknown command 'FLY'\r\n")]
    [InlineData(new[] { "COMMAND", "DOCS" }, "*0\r\n")]
    [InlineData(new[] { "CONFIG", "GET", "save" }, "*2\r\n$4\r\nsave\r\n$0\r\n\r\n")]
    [InlineData(new[] { "CONFIG", "GET", "appendonly" }, "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n")]
    [InlineData(new[] { "CONFIG", "GET", "no-such-setting" }, "*0\r\n")]
    [InlineData(new[] { "CONFIG", "SET", "save", "" }, "-ERR only CONFIG GET <name|*> is supported\r\n")]
    [InlineData(new[] { "CLIENT", "GETNAME" }, "$-1\r\n")]
    [InlineData(new[] { "HELLO", "3" }, "-NOPROTO this server speaks RESP2 only\r\n")]
    [InlineData(new[] { "SELECT", "0" }, "+OK\r\n")]
    [InlineData(new[] { "SELECT", "1" }, "-ERR DB index is out of range\r\n")]
    public void Replies_match_the_protocol(string[] request, string expected)
    {
        using RawConnection client = _server.Connect();
        Assert.Equal(expected, client.Call(request));
        Assert.Equal("+PONG\r\n", client.Call("PING")); // the connection stays usable after errors
    }

    [Fact]
    public void Inline_commands_are_understood()
    {
        using RawConnection client = _server.Connect();
        client.Send("PING\r\nECHO \"two words\"\r\nRUN echo 'x y'\n");
        Assert.Equal("+PONG\r\n", client.ReadReply());
        Assert.Equal("$9\r\ntwo words\r\n", client.ReadReply());
        Assert.Equal("$3\r\nx y\r\n", client.ReadReply());
    }

    [Fact]
    public void Client_names_and_ids_belong_to_their_connection()
    {
        using RawConnection first = _server.Connect();
        using RawConnection second = _server.Connect();
        Assert.Equal("+OK\r\n", first.Call("CLIENT", "SETNAME", "worker-7"));
        Assert.Equal("$8\r\nworker-7\r\n", first.Call("CLIENT", "GETNAME"));
        Assert.Equal("$-1\r\n", second.Call("CLIENT", "GETNAME"));
        Assert.StartsWith("-ERR Client names cannot contain spaces", first.Call("CLIENT", "SETNAME", "a b"));
        long firstId = long.Parse(first.Call("CLIENT", "ID")[1..^2]);
        long secondId = long.Parse(second.Call("CLIENT", "ID")[1..^2]);
        Assert.NotEqual(firstId, secondId);
    }

    [Fact]
    public void Hello_2_describes_the_server()
    {
        using RawConnection client = _server.Connect();
        string reply = client.Call("HELLO", "2");
        Assert.StartsWith("*14\r\n$6\r\nserver\r\n$9\r\neventloop\r\n", reply);
        Assert.Contains("$5\r\nproto\r\n:2\r\n", reply);
    }

    [Fact]
    public void Tasks_lists_the_registered_tasks()
    {
        using RawConnection client = _server.Connect();
        string reply = client.Call("TASKS");
        Assert.StartsWith("*5\r\n", reply);
        foreach (string name in new[] { "echo", "fail", "sha256", "sleep", "spin" })
            Assert.Contains($"${name.Length}\r\n{name}\r\n", reply);
    }

    [Fact]
    public void Info_reports_every_section_and_counts_requests()
    {
        using RawConnection client = _server.Connect();
        for (int i = 0; i < 10; i++)
            client.Call("RUN", "echo", "x");
        string info = client.Call("INFO");
        foreach (string section in new[] { "# Server", "# Clients", "# Stats", "# Reactor", "# Queue", "# Workers" })
            Assert.Contains(section + "\r\n", info);
        Assert.Contains("connected_clients:1\r\n", info);
        Assert.Contains("multiplexing_api:epoll\r\n", info);
        Assert.Matches(@"tasks_completed:1\d\r\n", info);
        Assert.Matches(@"syscalls_per_request:\d+(\.\d+)?\r\n", info);
        string queue = client.Call("INFO", "queue");
        Assert.Contains("# Queue\r\n", queue);
        Assert.DoesNotContain("# Server", queue);
    }

    [Fact]
    public void Info_memory_reports_the_collectors_stops_with_the_latest_full_one_apart()
    {
        using RawConnection client = _server.Connect();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true); // the server shares this process
        string info = client.Call("INFO", "memory");
        double total = Milliseconds(info, "gc_pause_total_ms");
        double full = Milliseconds(info, "gc_last_full_pause_ms");
        Assert.True(full > 0, info);
        Assert.True(total >= full + Milliseconds(info, "gc_last_ephemeral_pause_ms") - 0.002, info);

        static double Milliseconds(string info, string name) => double.Parse(
            info.Split("\r\n").Single(line => line.StartsWith(name + ":"))[(name.Length + 1)..],
            System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void Quit_answers_then_closes()
    {
        using RawConnection client = _server.Connect();
        client.Send(RawConnection.Encode("QUIT"));
        Assert.Equal("+OK\r\n", client.ReadToClose());
    }

    [Fact]
    public void A_large_argument_goes_through_a_task_intact()
    {
        using RawConnection client = _server.Connect();
        byte[] payload = new byte[3 * 1024 * 1024 + 7];
        new Random(42).NextBytes(payload);
        client.Send(RawConnection.EncodeBytes("RUN"u8.ToArray(), "echo"u8.ToArray(), payload));
        string header = $"${payload.Length}\r\n";
        Assert.Equal(header, client.ReadString(header.Length));
        Assert.Equal(payload, client.ReadBytes(payload.Length));
        Assert.Equal("\r\n", client.ReadString(2));
    }
}
