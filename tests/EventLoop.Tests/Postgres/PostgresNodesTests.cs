using EventLoop.Tests.Server;
using EventLoop.Tests.Support;
using static EventLoop.Tests.Queueing.QueueKit;

namespace EventLoop.Tests.Postgres;

/// <summary>Several nodes on one database, the verbs not served on PostgreSQL yet, and a database that cannot be reached.</summary>
[Collection(nameof(PostgresCollection))]
public sealed class PostgresNodesTests(PostgresCluster cluster)
{
    [Theory]
    [InlineData("QUEUES")]
    [InlineData("SCHEDULE LIST")]
    [InlineData("DEAD LIST")]
    [InlineData("QUEUE PAUSE images")]
    public async Task A_verb_not_served_on_postgres_says_so(string words)
    {
        await using var server = new TestServer(new ServerOptions { Store = cluster.NewDatabase() });
        using RawConnection client = server.Connect();
        string verb = words.Split(' ')[0];
        Assert.Equal($"-ERR {verb} is not supported with --store postgres yet\r\n", client.Call(words.Split(' ')));
    }

    [Fact]
    public async Task A_submit_on_one_node_wakes_a_blocked_fetch_on_the_other_whose_ack_wakes_a_parked_result_on_the_first()
    {
        string database = cluster.NewDatabase();
        await using var a = new TestServer(new ServerOptions { Store = database });
        await using var b = new TestServer(new ServerOptions { Store = database });
        using RawConnection producer = a.Connect();
        using RawConnection waiter = a.Connect();
        using RawConnection worker = b.Connect();
        worker.SendCommand("FETCH", "BLOCK", "20000", "LEASE", "60000", "FROM", "shared");
        Thread.Sleep(300); // parked on B before the SUBMIT: only B's NOTIFY listener can wake it
        string id = producer.Submit("resize", "QUEUE", "shared", "ARGS", "x");
        waiter.SendCommand("RESULT", id, "TIMEOUT", "20000");
        Assert.Equal($"*1\r\n*4\r\n{Bulk(id)}:1\r\n{Bulk("resize")}*1\r\n{Bulk("x")}", worker.ReadReply(TimeSpan.FromSeconds(30)));
        Assert.Equal("+OK\r\n", worker.Call("ACK", id, "1", "from-b"));
        Assert.Equal(Bulk("from-b"), waiter.ReadReply(TimeSpan.FromSeconds(30)));
        Assert.Equal(Bulk("from-b"), producer.Call("RESULT", id));
    }

    [Fact]
    public async Task In_process_workers_of_either_node_run_what_any_node_submits()
    {
        string database = cluster.NewDatabase();
        await using var a = new TestServer(new ServerOptions { Store = database });
        await using var b = new TestServer(new ServerOptions { Store = database });
        using RawConnection onA = a.Connect();
        using RawConnection onB = b.Connect();
        string[] ids = [.. Enumerable.Range(0, 50).Select(i => (i % 2 == 0 ? onA : onB).Submit("echo", "ARGS", $"v{i}"))];
        Assert.Equal(":50\r\n", onA.Call(["WAIT", "30000", .. ids]));
        for (int i = 0; i < ids.Length; i++)
            Assert.Equal(Bulk($"v{i}"), onB.Call("RESULT", ids[i]));
    }

    [Fact]
    public async Task A_node_killed_holding_leases_leaves_them_to_expire_and_the_other_node_hands_them_out_again()
    {
        string database = cluster.NewDatabase();
        await using var survivor = new TestServer(new ServerOptions { Store = database });
        using CliServer doomed = await CliServer.StartAsync("--store", database);
        using RawConnection producer = survivor.Connect();
        string id = producer.Submit("resize", "QUEUE", "held");
        using (RawConnection worker = RawConnection.Open(doomed.Port))
        {
            Assert.StartsWith($"*1\r\n*4\r\n{Bulk(id)}:1\r\n", worker.Call("FETCH", "LEASE", "1500", "FROM", "held"));
            doomed.Kill(); // SIGKILL: the node cannot give its leases back
        }
        Assert.Equal("running", producer.RequireStatus(id).State.ToString().ToLowerInvariant());
        producer.SendCommand("FETCH", "BLOCK", "20000", "FROM", "held");
        Assert.StartsWith($"*1\r\n*4\r\n{Bulk(id)}:2\r\n", producer.ReadReply(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task While_the_database_is_down_requests_answer_an_error_and_once_it_is_back_everything_works_again()
    {
        string database = cluster.NewDatabase();
        await using var server = new TestServer(new ServerOptions { Store = database });
        using RawConnection client = server.Connect();
        using RawConnection worker = server.Connect();
        string before = client.Submit("resize", "QUEUE", "restart");
        cluster.Stop();
        try
        {
            string down = client.Call("SUBMIT", "resize", "QUEUE", "restart");
            Assert.StartsWith("-ERR store: ", down); // an error, never an id for a task that was not stored
            Assert.StartsWith("-ERR store: ", client.Call("STATUS", before));
        }
        finally
        {
            cluster.Start();
        }
        // The node reconnects by itself: a request may still meet a connection that died with the database, never more.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        string after;
        while ((after = client.Call("SUBMIT", "resize", "QUEUE", "again")).StartsWith("-ERR store: ") && clock.Elapsed < Patience)
            Thread.Sleep(100);
        Assert.StartsWith("$", after);
        Assert.StartsWith($"*1\r\n*4\r\n{Bulk(before)}:1\r\n", worker.Call("FETCH", "FROM", "restart"));
        Assert.Equal("+OK\r\n", worker.Call("ACK", before, "1", "survived"));
        Assert.Equal(Bulk("survived"), client.Call("RESULT", before));
    }

    [Theory]
    [InlineData(new[] { "--store", "mysql://x@y/z" }, "Store must be postgres://user@host:port/database, not 'mysql://x@y/z'")]
    [InlineData(new[] { "--store", "postgres://127.0.0.1/db" }, "Store must name a user, a host and a database")]
    [InlineData(new[] { "--store", "postgres://u@h/db", "--appendonly", "yes" }, "Store cannot be combined with AppendOnly")]
    public void A_store_address_that_cannot_work_is_refused_before_anything_starts(string[] options, string error)
    {
        ExternalProcess.Result result = ExternalProcess.Run(ExternalProcess.EventLoopProgram(), ["serve", "--port", "0", .. options]);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(error, result.Error);
    }

    [Fact]
    public void An_unreachable_database_at_start_is_a_clear_error_and_a_failing_exit_code()
    {
        ExternalProcess.Result result = ExternalProcess.Run(ExternalProcess.EventLoopProgram(),
            ["serve", "--port", "0", "--store", "postgres://postgres@127.0.0.1:1/nowhere"], timeoutMs: 60_000);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("PostgreSQL store 127.0.0.1:1/nowhere is unreachable", result.Error);
    }
}
