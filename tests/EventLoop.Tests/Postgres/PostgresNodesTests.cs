using EventLoop.Tests.Server;
using EventLoop.Client;
using EventLoop.Tests.Support;
using Npgsql;
using static EventLoop.Tests.Queueing.QueueKit;

namespace EventLoop.Tests.Postgres;

/// <summary>Several nodes on one database (pauses, the dead set, the schedule leader), what is not served on PostgreSQL yet, and a database that cannot be reached.</summary>
[Collection(nameof(PostgresCollection))]
public sealed class PostgresNodesTests(PostgresCluster cluster)
{
    [Fact]
    public async Task The_embedding_queue_api_is_not_served_on_postgres_and_says_so()
    {
        await using var server = new TestServer(new ServerOptions { Store = cluster.NewDatabase() });
        var refused = await Assert.ThrowsAsync<NotSupportedException>(() => server.Server.Queue.SubmitAsync("echo"));
        Assert.Contains("not supported with Store (PostgreSQL)", refused.Message);
    }

    [Fact]
    public async Task Info_queueing_on_postgres_shows_the_nodes_own_lines_and_not_the_unused_memory_stores_zeros()
    {
        await using var server = new TestServer(new ServerOptions { Store = cluster.NewDatabase() });
        using RawConnection client = server.Connect();
        client.Submit("echo", "QUEUE", "q", "DELAY", "600000");
        string[] keys = [.. Parse(client.Call("INFO", "queueing")).Text!.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(line => line.Split(':')[0])];
        Assert.Equal(["timers_pending", "parked_connections", "parked_requests"], keys);
    }

    /// <summary>
    /// The safety poll stretched past the test: a RESULT … TIMEOUT or WAIT sent while its task runs on this node must be
    /// woken by the node itself when the run's settlement (on the other connection) is answered, even when that
    /// answer comes while the first read is still out, after its snapshot. Before, about one in thirty waited for the
    /// poll.
    /// </summary>
    [Fact]
    public async Task A_result_or_wait_parked_while_its_task_runs_here_is_woken_by_the_node_not_by_the_safety_poll()
    {
        await using var server = new TestServer(new ServerOptions { Store = cluster.NewDatabase(), StoreSafetyPoll = TimeSpan.FromMinutes(10) });
        using RawConnection client = server.Connect();
        for (int i = 0; i < 200; i++)
            Assert.Equal(Bulk($"{i}"), client.Result(client.Submit("echo", "ARGS", $"{i}"), 10_000));
        for (int i = 0; i < 100; i++)
            Assert.Equal(1, client.Wait([client.Submit("echo", "ARGS", "w")], TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_queue_paused_on_one_node_is_not_claimed_on_the_other_until_resumed()
    {
        string database = cluster.NewDatabase();
        await using var a = new TestServer(new ServerOptions { Store = database });
        await using var b = new TestServer(new ServerOptions { Store = database });
        using RawConnection onA = a.Connect();
        using RawConnection onB = b.Connect();
        Assert.Equal("+OK\r\n", onA.Call("QUEUE", "PAUSE", "shared"));
        string external = onA.Submit("resize", "QUEUE", "shared");
        string echo = onA.Submit("echo", "QUEUE", "shared", "ARGS", "e");
        Assert.Equal("*0\r\n", onB.Call("FETCH", "FROM", "shared"));
        Assert.Equal("-PENDING queued\r\n", onB.Result(echo, 1000)); // neither node's in-process workers take it
        Assert.Equal((2, 0, 0, 1), onB.Queues()["shared"]);
        onB.SendCommand("FETCH", "BLOCK", "20000", "FROM", "shared");
        Thread.Sleep(300); // parked on B before the RESUME: A's NOTIFY wakes it
        Assert.Equal("+OK\r\n", onA.Call("QUEUE", "RESUME", "shared"));
        Assert.StartsWith($"*1\r\n*4\r\n{Bulk(external)}:1\r\n", onB.ReadReply(TimeSpan.FromSeconds(30)));
        Assert.Equal(Bulk("e"), onA.Result(echo, 20_000));
    }

    [Fact]
    public async Task The_dead_set_of_one_node_is_listed_and_retried_on_the_other()
    {
        string database = cluster.NewDatabase();
        await using var a = new TestServer(new ServerOptions { Store = database });
        await using var b = new TestServer(new ServerOptions { Store = database });
        using RawConnection onA = a.Connect();
        using RawConnection onB = b.Connect();
        string id = onA.Submit("resize", "QUEUE", "dead");
        Assert.StartsWith($"*1\r\n*4\r\n{Bulk(id)}:1\r\n", onA.Call("FETCH", "FROM", "dead"));
        Assert.Equal("+OK\r\n", onA.Call("FAIL", id, "1", "gone"));
        Assert.Equal([id], onB.DeadList("QUEUE", "dead"));
        Assert.Equal(":1\r\n", onB.Call("DEAD", "RETRY", id));
        Assert.StartsWith($"*1\r\n*4\r\n{Bulk(id)}:1\r\n", onA.Call("FETCH", "FROM", "dead"));
    }

    /// <summary>
    /// The leader is the first node up; SIGKILLed, its session dies with it and the survivor takes the lock within
    /// a lease period. Every firing is counted by its deterministic id (fired_as): none is stored twice, and the
    /// firings go on after the kill with at most the takeover's gap.
    /// </summary>
    [Fact]
    public async Task When_the_schedule_leader_is_killed_the_other_node_fires_within_a_lease_period_and_no_firing_runs_twice()
    {
        string database = cluster.NewDatabase();
        using CliServer leader = await CliServer.StartAsync("--store", database);
        WaitForLine(leader, "leads the schedules");
        await using var survivor = new TestServer(new ServerOptions { Store = database });
        using RawConnection client = survivor.Connect();
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "beat", "EVERY", "200", "tick", "QUEUE", "beats"));
        Thread.Sleep(1200);
        long killed = NowMs;
        leader.Kill();
        Thread.Sleep(3000);
        Assert.Equal(":1\r\n", client.Call("SCHEDULE", "DEL", "beat"));
        Thread.Sleep(300);

        List<long> fired = FireTimes(database, "beat");
        Assert.Equal(fired.Count, fired.Distinct().Count()); // counted by id: no fire time stored twice
        Assert.All(fired, t => Assert.Equal(0, t % 200));
        Assert.Contains(fired, t => t < killed); // the killed leader fired
        long lease = EventLoop.Stores.Postgres.PostgresScheduleLeader.TryEveryMs + 1000; // the survivor's next try, plus a loaded machine's delay
        Assert.Contains(fired, t => t > killed && t <= killed + lease + 200); // the survivor took over within a lease period
        Assert.True(fired.Max() >= killed + 2000, $"the survivor kept firing: last {fired.Max()}, killed at {killed}");
        List<RespValue> tasks = [.. Parse(client.Call("FETCH", "COUNT", "1000", "FROM", "beats")).Elements];
        Assert.All(tasks, t => Assert.Equal(1, t.Elements[1].IntegerValue));
        // Each firing is one task, handed out once, under the id its firing id names.
        Assert.Equal(fired.Select(t => client.RequireStatus($"beat@{t}").Id).Order(), tasks.Select(t => t.Elements[0].Text!).Order());
    }

    /// <summary>The fire times of a schedule's stored firings, by their deterministic ids <c>name@fire-ms</c>.</summary>
    private List<long> FireTimes(string database, string schedule)
    {
        using NpgsqlConnection connection = cluster.Open(database);
        using var read = new NpgsqlCommand("SELECT fired_as FROM eventloop_tasks WHERE fired_as LIKE @prefix", connection);
        read.Parameters.AddWithValue("prefix", schedule + "@%");
        var times = new List<long>();
        using NpgsqlDataReader reader = read.ExecuteReader();
        while (reader.Read())
            times.Add(long.Parse(reader.GetString(0)[(schedule.Length + 1)..]));
        return times;
    }

    [Fact]
    public async Task A_version_1_database_is_migrated_to_version_2_keeping_its_tasks_and_a_newer_one_is_refused()
    {
        string database = cluster.NewDatabase();
        string kept;
        await using (var first = new TestServer(new ServerOptions { Store = database }))
        {
            using RawConnection client = first.Connect();
            kept = client.Submit("resize", "QUEUE", "kept", "ARGS", "old");
        }
        // Back to what version 1 left: version 2 is exactly these tables and this column.
        cluster.Execute(database, """
            DROP TABLE eventloop_queues; DROP TABLE eventloop_schedules;
            ALTER TABLE eventloop_tasks DROP COLUMN fired_as; UPDATE eventloop_schema SET version = 1
            """);
        await using (var second = new TestServer(new ServerOptions { Store = database }))
        {
            Assert.Equal(2, cluster.Execute(database, "SELECT version FROM eventloop_schema"));
            using RawConnection client = second.Connect();
            Assert.Equal((1, 0, 0, 0), client.Queues()["kept"]);
            Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "later", "EVERY", "3600000", "resize"));
            Assert.Equal($"*1\r\n*4\r\n{Bulk(kept)}:1\r\n{Bulk("resize")}*1\r\n{Bulk("old")}", client.Call("FETCH", "FROM", "kept"));
        }
        cluster.Execute(database, "UPDATE eventloop_schema SET version = 3");
        ExternalProcess.Result refused = ExternalProcess.Run(ExternalProcess.EventLoopProgram(), ["serve", "--port", "0", "--store", database], timeoutMs: 60_000);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("the database's schema is version 3, newer than this server's 2", refused.Error);
    }

    private static void WaitForLine(CliServer server, string text)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!server.Log.Any(line => line.Contains(text)))
        {
            if (clock.Elapsed > Patience)
                throw new TimeoutException($"the server never logged '{text}': {string.Join(" | ", server.Log)}");
            Thread.Sleep(20);
        }
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

    /// <summary>
    /// With its ring full, a node stores its SUBMITs ready and the other node's workers take them: A's two ring slots
    /// hold 10 s sleeps, and its echoes finish meanwhile on B. B starts only once both sleeps run: a SUBMIT that comes
    /// while A's tick claim is out finds that claim holding the room and is stored ready, and B must not take a sleep then.
    /// </summary>
    [Fact]
    public async Task A_node_without_room_stores_its_submits_ready_and_the_other_nodes_workers_run_them()
    {
        string database = cluster.NewDatabase();
        await using var a = new TestServer(new ServerOptions { Store = database, RingCapacity = 2, ShutdownTimeout = TimeSpan.FromMilliseconds(500) }); // no wait for the sleeps at the end
        using RawConnection onA = a.Connect();
        string[] sleeps = [onA.Submit("sleep", "ARGS", "10000"), onA.Submit("sleep", "ARGS", "10000")];
        await FaultTests.WaitUntil(() => sleeps.All(id => onA.State(id) == EventLoop.Client.TaskState.Running));
        string claimedBefore = StoreInfo(onA)["store_submits_claimed"];

        await using var b = new TestServer(new ServerOptions { Store = database });
        using RawConnection onB = b.Connect();
        string[] echoes = [.. Enumerable.Range(0, 20).Select(i => onA.Submit("echo", "ARGS", $"v{i}"))];
        Assert.Equal(":20\r\n", onA.Call(["WAIT", "5000", .. echoes]));
        for (int i = 0; i < echoes.Length; i++)
            Assert.Equal(Bulk($"v{i}"), onA.Call("RESULT", echoes[i]));
        Assert.Equal(claimedBefore, StoreInfo(onA)["store_submits_claimed"]); // no echo was stored claimed by A
        Assert.Equal(":0\r\n", onB.Call(["WAIT", "1", .. sleeps])); // still running on A
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
            Assert.StartsWith("-ERR store: ", client.Call("QUEUES"));
            Assert.StartsWith("-ERR store: ", client.Call("SCHEDULE", "ADD", "down", "EVERY", "100", "tick"));
            Dictionary<string, string> store = StoreInfo(client);
            Assert.Equal("0", store["store_connected"]);
            Assert.True(long.Parse(store["store_failed_round_trips"]) >= 1, "no failed round trip counted");
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
        // The schedule leader lost its session with the database: it leads again and fires.
        Assert.Equal("*0\r\n", client.Call("SCHEDULE", "LIST")); // the ADD during the outage stored nothing
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "after", "EVERY", "100", "tick", "QUEUE", "after"));
        worker.SendCommand("FETCH", "BLOCK", "20000", "FROM", "after");
        Assert.StartsWith("*1\r\n*4\r\n", worker.ReadReply(TimeSpan.FromSeconds(30)));
        // The listener lost its session too, said so once, and listens again.
        Assert.Single(server.Log, line => line.Contains("notifications lost"));
        clock.Restart();
        while (StoreInfo(client)["store_listener_connected"] != "1")
        {
            Assert.True(clock.Elapsed < Patience, "the listener never listened again");
            Thread.Sleep(50);
        }
    }

    [Fact]
    public async Task An_in_process_run_longer_than_its_lease_keeps_it_renewed_and_runs_once()
    {
        string database = cluster.NewDatabase();
        await using var server = new TestServer(new ServerOptions { Store = database });
        using RawConnection client = server.Connect();
        int longer = EventLoop.Stores.Postgres.InProcessRuns.LeaseMs + 1500;
        string id = client.Submit("sleep", "ARGS", longer.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(Bulk("OK"), client.Result(id, longer + 20_000));
        Assert.Equal(1L, client.RequireStatus(id).Attempt); // the node renewed the lease of what it runs: no second attempt
    }

    [Fact]
    public async Task An_in_process_run_that_ends_while_the_database_is_down_is_settled_once_it_is_back()
    {
        string database = cluster.NewDatabase();
        await using var server = new TestServer(new ServerOptions { Store = database });
        using RawConnection client = server.Connect();
        string id = client.Submit("sleep", "ARGS", "1500");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (client.State(id) != EventLoop.Client.TaskState.Running)
        {
            Assert.True(clock.Elapsed < Patience, "the in-process run never started");
            Thread.Sleep(20);
        }
        cluster.Stop();
        try
        {
            Thread.Sleep(2500); // the run ends meanwhile, and its settlement's statement fails
        }
        finally
        {
            cluster.Start();
        }
        Assert.Equal(Bulk("OK"), client.Result(id, 20_000)); // not left running, its lease renewed for as long as the node lives
        Assert.Equal(1L, client.RequireStatus(id).Attempt); // settled where it ran, not run again after a lease expiry
    }

    [Fact]
    public async Task Info_store_shows_the_database_the_round_trips_and_the_schedule_leader_and_is_absent_in_memory()
    {
        string database = cluster.NewDatabase();
        await using var server = new TestServer(new ServerOptions { Store = database });
        using RawConnection client = server.Connect();
        long before = long.Parse(StoreInfo(client)["store_round_trips"]);
        client.Submit("resize", "QUEUE", "info");
        Dictionary<string, string> store = StoreInfo(client);
        Assert.Equal("postgres", store["store"]);
        Assert.Equal($"127.0.0.1:{cluster.Port}/{database[(database.LastIndexOf('/') + 1)..]}", store["store_database"]);
        Assert.Equal("1", store["store_connected"]);
        Assert.True(long.Parse(store["store_round_trips"]) > before, "the SUBMIT's round trip was not counted");
        Assert.True(long.Parse(store["store_statements"]) >= long.Parse(store["store_round_trips"]));
        Assert.Equal("0", store["store_failed_round_trips"]);
        Assert.Equal("0", store["store_requests_pending"]); // INFO runs on the reactor: nothing of this connection waits
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (StoreInfo(client)["store_schedule_leader"] != "1" || StoreInfo(client)["store_listener_connected"] != "1")
        {
            Assert.True(clock.Elapsed < Patience, "the only node never led the schedules or never listened");
            Thread.Sleep(50);
        }
        Assert.Contains("# Store\r\n", Parse(client.Call("INFO")).Text);

        await using var memory = new TestServer(new ServerOptions());
        using RawConnection plain = memory.Connect();
        Assert.DoesNotContain("# Store", Parse(plain.Call("INFO")).Text);
        Assert.Equal(Bulk(""), plain.Call("INFO", "store"));
    }

    [Fact]
    public async Task Idle_blocked_fetchers_cost_the_database_one_look_a_tick_not_a_claim_each()
    {
        await using var server = new TestServer(new ServerOptions { Store = cluster.NewDatabase() });
        using RawConnection client = server.Connect();
        RawConnection[] fetchers = [.. Enumerable.Range(0, 100).Select(_ => server.Connect())];
        try
        {
            foreach (RawConnection fetcher in fetchers)
                fetcher.SendCommand("FETCH", "BLOCK", "0", "FROM", "idle");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (long.Parse(StoreInfo(client)["store_statements_in_flight"]) > 0 || clock.Elapsed < TimeSpan.FromMilliseconds(500))
                Thread.Sleep(50); // every first claim answered empty: all 100 are parked
            long before = long.Parse(StoreInfo(client)["store_statements"]);
            Thread.Sleep(2000);
            long spent = long.Parse(StoreInfo(client)["store_statements"]) - before;
            // 8 ticks in 2 s: a look and an in-process claim each, the 1 s sweeps, the result expiry; a claim per fetcher per tick would be 800.
            Assert.InRange(spent, 1, 60);
            // A SUBMIT wakes the oldest fetcher (one claim), whose full COUNT wakes the next, which finds the queue empty.
            before = long.Parse(StoreInfo(client)["store_statements"]);
            string[] ids = [client.Submit("resize", "QUEUE", "idle"), client.Submit("resize", "QUEUE", "idle")];
            Assert.StartsWith($"*1\r\n*4\r\n{Bulk(ids[0])}:1\r\n", fetchers[0].ReadReply(TimeSpan.FromSeconds(30)));
            Assert.StartsWith($"*1\r\n*4\r\n{Bulk(ids[1])}:1\r\n", fetchers[1].ReadReply(TimeSpan.FromSeconds(30)));
            Assert.InRange(long.Parse(StoreInfo(client)["store_statements"]) - before, 2, 40);
        }
        finally
        {
            foreach (RawConnection fetcher in fetchers)
                fetcher.Dispose();
        }
    }

    internal static Dictionary<string, string> StoreInfo(RawConnection client)
    {
        string text = Parse(client.Call("INFO", "store")).Text ?? "";
        Assert.StartsWith("# Store\r\n", text);
        return text.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(line => line.Split(':', 2)).ToDictionary(parts => parts[0], parts => parts[1]);
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
