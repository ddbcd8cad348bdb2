using EventLoop.Client;
using EventLoop.Tests.Server;
using static EventLoop.Tests.Queueing.QueueKit;

namespace EventLoop.Tests.Postgres;

/// <summary>
/// The queue verbs PostgreSQL serves, held to the same contract on every store: each case runs once per store
/// (one subclass each, as the backend conformance tests run once per multiplexer), over a real socket, byte for byte.
/// </summary>
public abstract class QueueStoreContractTests : IAsyncLifetime
{
    private TestServer _server = null!;

    /// <summary>The server's options for this store (a fresh database per test for PostgreSQL).</summary>
    protected abstract ServerOptions Options();

    public Task InitializeAsync()
    {
        _server = new TestServer(Options());
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private RawConnection Connect() => _server.Connect();

    [Fact]
    public void An_in_process_task_runs_and_its_result_and_status_are_read_back()
    {
        using RawConnection client = Connect();
        string id = client.Submit("echo", "ARGS", "hello");
        Assert.Matches("^[1-9][0-9]*$", id);
        Assert.Equal(Bulk("hello"), client.Result(id, 20_000));
        TaskStatusInfoAssert(client, id, "succeeded", attempt: 1, task: "echo", queue: "default");
        string failed = client.Result(client.Submit("fail", "ARGS", "boom"), 20_000);
        Assert.True(failed.StartsWith("-FAILED ") && failed.Contains("boom"), Show(failed));
    }

    [Fact]
    public void A_refused_submit_pipelined_between_two_others_costs_only_itself()
    {
        // PostgreSQL text cannot hold a NUL, and pipelined SUBMITs share one statement there: the refusal must come first.
        using RawConnection client = Connect();
        client.Send([.. RawConnection.Encode("SUBMIT", "resize", "QUEUE", "pipe", "KEY", "a"), .. RawConnection.Encode("SUBMIT", "resize", "QUEUE", "pipe", "KEY", "b\0"),
                     .. RawConnection.Encode("SUBMIT", "resize", "QUEUE", "pipe", "KEY", "c")]);
        string first = client.ReadReply();
        Assert.Equal("-ERR KEY must be UTF-8 text without NUL bytes\r\n", client.ReadReply());
        string third = client.ReadReply();
        Assert.Matches("^\\$[0-9]+\r\n[1-9][0-9]*\r\n$", first);
        Assert.Matches("^\\$[0-9]+\r\n[1-9][0-9]*\r\n$", third);
        Assert.NotEqual(first, third);
        Assert.Equal("queued", StateOf(client, first.Split("\r\n")[1]));
        Assert.Equal("queued", StateOf(client, third.Split("\r\n")[1]));
    }

    [Fact]
    public void Names_with_a_NUL_get_the_same_answer_on_every_store()
    {
        using RawConnection client = Connect();
        Assert.Equal(":0\r\n", client.Call("SCHEDULE", "DEL", "nightly\0"));
        Assert.Equal("-ERR QUEUE must be 1 to 128 printable characters without spaces\r\n", client.Call("DEAD", "LIST", "QUEUE", "q\0"));
        Assert.Equal("-ERR QUEUE must be 1 to 128 printable characters without spaces\r\n", client.Call("FETCH", "FROM", "q\0"));
        Assert.Equal("-ERR QUEUE must be 1 to 128 printable characters without spaces\r\n", client.Call("QUEUE", "PAUSE", "q\0"));
        Assert.Equal("+PONG\r\n", client.Call("PING"));
    }

    [Fact]
    public void Info_counts_the_leases_of_this_nodes_workers()
    {
        using RawConnection client = Connect();
        string[] keys = ["external_leases_total", "external_stale_refused", "external_requeued_on_close", "external_lease_expiries", "external_leases_lost"];
        long[] before = [.. keys.Select(key => LeaseInfo(client, key))];
        string first = client.Submit("resize", "QUEUE", "counted");
        client.Submit("resize", "QUEUE", "counted");
        Assert.Contains(Bulk(first), client.Call("FETCH", "LEASE", "60000", "FROM", "counted"));
        Assert.Equal("+OK\r\n", client.Call("ACK", first, "1"));
        Assert.Equal("-STALE\r\n", client.Call("ACK", first, "1"));
        using (RawConnection leaving = Connect())
            Assert.StartsWith("*1\r\n", leaving.Call("FETCH", "LEASE", "60000", "FROM", "counted"));
        WaitFor(() => LeaseInfo(client, "external_requeued_on_close") > before[2]);
        Assert.StartsWith("*1\r\n", client.Call("FETCH", "LEASE", "200", "FROM", "counted"));
        WaitFor(() => LeaseInfo(client, "external_lease_expiries") > before[3]);
        long[] after = [.. keys.Select(key => LeaseInfo(client, key))];
        Assert.Equal([3, 1, 1, 1, 2], after.Zip(before, (a, b) => a - b));
    }

    private static long LeaseInfo(RawConnection client, string key)
    {
        string line = (Parse(client.Call("INFO")).Text ?? "").Split("\r\n").Single(l => l.StartsWith(key + ":", StringComparison.Ordinal));
        return long.Parse(line[(key.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static void WaitFor(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            Thread.Sleep(50);
        }
    }

    [Fact]
    public void Unknown_ids_are_nil_for_status_result_and_cancel_and_never_counted_by_wait()
    {
        using RawConnection client = Connect();
        AssertNil(client.Call("STATUS", "12345"));
        AssertNil(client.Call("RESULT", "12345"));
        AssertNil(client.Call("CANCEL", "12345"));
        AssertNil(client.Call("STATUS", "not-an-id"));
        Assert.Equal(":0\r\n", client.Call("WAIT", "100", "12345"));
    }

    [Fact]
    public void Fetch_leases_highest_priority_first_and_ack_settles_once()
    {
        using RawConnection client = Connect();
        string low = client.Submit("resize", "QUEUE", "images", "ARGS", "a", "b");
        string high = client.Submit("resize", "QUEUE", "images", "PRIORITY", "9", "ARGS", "c");
        string fetched = client.Call("FETCH", "COUNT", "10", "LEASE", "60000", "FROM", "images");
        Assert.Equal($"*2\r\n*4\r\n{Bulk(high)}:1\r\n{Bulk("resize")}*1\r\n{Bulk("c")}*4\r\n{Bulk(low)}:1\r\n{Bulk("resize")}*2\r\n{Bulk("a")}{Bulk("b")}", fetched);
        Assert.Equal("running", StateOf(client, low));
        Assert.Equal("+OK\r\n", client.Call("ACK", low, "1", "small"));
        Assert.Equal("-STALE\r\n", client.Call("ACK", low, "1", "again"));
        Assert.Equal("-STALE\r\n", client.Call("ACK", high, "2"));
        Assert.Equal(Bulk("small"), client.Call("RESULT", low));
        Assert.Equal("*0\r\n", client.Call("FETCH", "FROM", "images"));
    }

    [Fact]
    public void Fetch_from_several_queues_takes_the_highest_priority_across_them_then_the_queues_in_listed_order()
    {
        using RawConnection client = Connect();
        string a1 = client.Submit("resize", "QUEUE", "qa", "PRIORITY", "1");
        string b5 = client.Submit("resize", "QUEUE", "qb", "PRIORITY", "5");
        string a5 = client.Submit("resize", "QUEUE", "qa", "PRIORITY", "5");
        string b1 = client.Submit("resize", "QUEUE", "qb", "PRIORITY", "1");
        client.Submit("resize", "QUEUE", "qc", "PRIORITY", "9");
        string fetched = client.Call("FETCH", "COUNT", "3", "FROM", "qa", "qb", "unknown");
        Assert.Equal($"*3\r\n*4\r\n{Bulk(a5)}:1\r\n{Bulk("resize")}*0\r\n*4\r\n{Bulk(b5)}:1\r\n{Bulk("resize")}*0\r\n*4\r\n{Bulk(a1)}:1\r\n{Bulk("resize")}*0\r\n", fetched);
        Assert.Equal($"*1\r\n*4\r\n{Bulk(b1)}:1\r\n{Bulk("resize")}*0\r\n", client.Call("FETCH", "COUNT", "3", "FROM", "qb", "qa"));
    }

    [Fact]
    public void Fail_retries_after_backoff_then_noretry_fails_into_the_dead_set()
    {
        using RawConnection client = Connect();
        string id = client.Submit("resize", "RETRIES", "3", "BACKOFF", "1", "ARGS", "x");
        Assert.Equal(1, FetchOne(client, id));
        Assert.Equal("+OK\r\n", client.Call("FAIL", id, "1", "first"));
        client.PollStatus(id, s => s?.State is TaskState.Queued or TaskState.Retrying, "retrying or queued");
        Assert.Equal(2, FetchOne(client, id, block: 10_000));
        Assert.Equal("+OK\r\n", client.Call("FAIL", id, "2", "second", "NORETRY"));
        Assert.Equal("-FAILED second\r\n", client.Call("RESULT", id));
        Assert.Equal("failed", StateOf(client, id));
    }

    [Fact]
    public void Nack_requeues_touch_renews_and_cancel_fences_the_delivery()
    {
        using RawConnection client = Connect();
        string id = client.Submit("resize", "RETRIES", "0");
        Assert.Equal(1, FetchOne(client, id));
        Assert.Equal("+OK\r\n", client.Call("NACK", id, "1"));
        Assert.Equal(2, FetchOne(client, id));
        Assert.Equal("+OK\r\n", client.Call("TOUCH", id, "2", "LEASE", "5000"));
        Assert.Equal(":1\r\n", client.Call("CANCEL", id));
        Assert.Equal("-CANCELLED\r\n", client.Call("TOUCH", id, "2"));
        Assert.Equal("-CANCELLED\r\n", client.Call("ACK", id, "2", "late"));
        Assert.Equal("-CANCELLED\r\n", client.Call("RESULT", id));
        Assert.Equal(":0\r\n", client.Call("CANCEL", id));
    }

    [Fact]
    public void Key_answers_the_unfinished_tasks_id_and_delay_keeps_a_task_scheduled()
    {
        using RawConnection client = Connect();
        string first = client.Submit("resize", "KEY", "k1", "DELAY", "60000");
        Assert.Equal(first, client.Submit("resize", "KEY", "k1"));
        Assert.Equal("scheduled", StateOf(client, first));
        Assert.Equal("*0\r\n", client.Call("FETCH", "FROM", "default"));
        Assert.Equal(":1\r\n", client.Call("CANCEL", first));
        Assert.NotEqual(first, client.Submit("resize", "KEY", "k1"));
        string at = client.Submit("resize", "QUEUE", "past", "AT", (NowMs - 1000).ToString(), "RESULT-TTL", "1");
        Assert.Equal(1, FetchOne(client, at, queue: "past"));
        Assert.Equal("+OK\r\n", client.Call("ACK", at, "1"));
        client.PollStatus(at, s => s is null, "expired after its RESULT-TTL");
    }

    [Fact]
    public void A_blocked_fetch_is_woken_by_a_submit_and_one_that_times_out_answers_empty_in_order()
    {
        using RawConnection worker = Connect();
        using RawConnection producer = Connect();
        worker.SendCommand("FETCH", "BLOCK", "20000", "FROM", "jobs");
        Thread.Sleep(200);
        string id = producer.Submit("resize", "QUEUE", "jobs", "ARGS", "p");
        Assert.Equal($"*1\r\n*4\r\n{Bulk(id)}:1\r\n{Bulk("resize")}*1\r\n{Bulk("p")}", worker.ReadReply(TimeSpan.FromSeconds(30)));
        worker.Send([.. RawConnection.Encode("FETCH", "BLOCK", "200", "FROM", "empty"), .. RawConnection.Encode("PING")]);
        Assert.Equal("*0\r\n", worker.ReadReply(TimeSpan.FromSeconds(30)));
        Assert.Equal("+PONG\r\n", worker.ReadReply());
    }

    [Fact]
    public void Blocked_fetchers_are_served_in_the_order_they_blocked_one_task_each_whether_submits_come_one_by_one_or_in_a_burst()
    {
        using RawConnection producer = Connect();
        RawConnection[] fetchers = [.. Enumerable.Range(0, 12).Select(_ => Connect())];
        try
        {
            for (int i = 0; i < fetchers.Length; i++)
            {
                fetchers[i].SendCommand("FETCH", "BLOCK", "0", "FROM", "turns");
                var clock = System.Diagnostics.Stopwatch.StartNew();
                while (BlockedFetchers(producer) != i + 1)
                {
                    Assert.True(clock.Elapsed < Patience, $"fetcher {i} never parked");
                    Thread.Sleep(10);
                }
            }
            var ids = new List<string>();
            for (int i = 0; i < 6; i++)
                ids.Add(producer.Submit("resize", "QUEUE", "turns", "ARGS", $"one{i}"));
            producer.Send([.. Enumerable.Range(0, 6).SelectMany(i => RawConnection.Encode("SUBMIT", "resize", "QUEUE", "turns", "ARGS", $"burst{i}"))]);
            ids.AddRange(Enumerable.Range(0, 6).Select(_ => Parse(producer.ReadReply(TimeSpan.FromSeconds(30))).Text!));
            for (int i = 0; i < fetchers.Length; i++)
                Assert.StartsWith($"*1\r\n*4\r\n{Bulk(ids[i])}:1\r\n", fetchers[i].ReadReply(TimeSpan.FromSeconds(30)));
            Assert.Equal(0, BlockedFetchers(producer));
        }
        finally
        {
            foreach (RawConnection fetcher in fetchers)
                fetcher.Dispose();
        }
    }

    private static long BlockedFetchers(RawConnection client)
    {
        string line = (Parse(client.Call("INFO", "workers")).Text ?? "").Split("\r\n").Single(l => l.StartsWith("external_blocked_fetchers:", StringComparison.Ordinal));
        return long.Parse(line[(line.IndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void A_parked_result_is_woken_by_the_ack_and_wait_counts_what_finished()
    {
        using RawConnection waiter = Connect();
        using RawConnection worker = Connect();
        string id = worker.Submit("resize");
        string other = worker.Submit("echo", "ARGS", "e");
        waiter.SendCommand("RESULT", id, "TIMEOUT", "20000");
        Assert.Equal(1, FetchOne(worker, id));
        Thread.Sleep(200);
        Assert.Equal("+OK\r\n", worker.Call("ACK", id, "1", "done"));
        Assert.Equal(Bulk("done"), waiter.ReadReply(TimeSpan.FromSeconds(30)));
        Assert.Equal(":2\r\n", waiter.Call("WAIT", "20000", id, other));
        string pending = worker.Submit("resize", "QUEUE", "never");
        Assert.Equal("-PENDING queued\r\n", waiter.Result(pending, 300));
        Assert.Equal(":1\r\n", waiter.Call("WAIT", "300", id, pending));
    }

    [Fact]
    public void Pipelined_queue_verbs_answer_in_request_order()
    {
        using RawConnection client = Connect();
        client.Send([.. RawConnection.Encode("SUBMIT", "resize", "KEY", "same"), .. RawConnection.Encode("PING"),
                     .. RawConnection.Encode("SUBMIT", "resize", "KEY", "same"), .. RawConnection.Encode("STATUS", "999"), .. RawConnection.Encode("ECHO", "end")]);
        string first = client.ReadReply();
        Assert.Equal("+PONG\r\n", client.ReadReply());
        Assert.Equal(first, client.ReadReply());
        AssertNil(client.ReadReply());
        Assert.Equal(Bulk("end"), client.ReadReply());
    }

    [Fact]
    public void A_pipelined_burst_of_submits_gets_an_id_each_in_order_with_keys_shared_inside_the_burst()
    {
        using RawConnection client = Connect();
        var burst = new List<byte>();
        for (int i = 0; i < 200; i++)
            burst.AddRange(RawConnection.Encode("SUBMIT", "resize", "QUEUE", "burst", "KEY", $"k{i % 150}", "ARGS", $"v{i}"));
        client.Send([.. burst]);
        string[] ids = [.. Enumerable.Range(0, 200).Select(_ => Parse(client.ReadReply(TimeSpan.FromSeconds(30))).Text!)];
        Assert.Equal(150, ids.Distinct().Count());
        for (int i = 0; i < 50; i++)
            Assert.Equal(ids[i], ids[i + 150]);
        string fetched = client.Call("FETCH", "COUNT", "1000", "FROM", "burst");
        Assert.StartsWith("*150\r\n", fetched);
        for (int i = 0; i < 150; i++)
            Assert.Contains($"{Bulk(ids[i])}:1\r\n{Bulk("resize")}*1\r\n{Bulk($"v{i}")}", fetched);
    }

    [Fact]
    public void Pipelined_acks_each_answer_as_alone_and_a_repeat_inside_the_burst_is_stale()
    {
        using RawConnection client = Connect();
        string[] ids = [.. Enumerable.Range(0, 5).Select(i => client.Submit("resize", "QUEUE", "acks", "ARGS", $"v{i}"))];
        Assert.StartsWith("*5\r\n", client.Call("FETCH", "COUNT", "5", "LEASE", "60000", "FROM", "acks"));
        string cancelled = ids[3];
        Assert.Equal(":1\r\n", client.Call("CANCEL", cancelled));
        client.Send([.. RawConnection.Encode("ACK", ids[0], "1", "r0"), .. RawConnection.Encode("ACK", ids[1], "2", "wrong attempt"),
                     .. RawConnection.Encode("ACK", ids[2], "1", "r2"), .. RawConnection.Encode("ACK", ids[0], "1", "again"),
                     .. RawConnection.Encode("ACK", cancelled, "1"), .. RawConnection.Encode("ACK", "999999", "1"),
                     .. RawConnection.Encode("ACK", ids[1], "1", "r1"), .. RawConnection.Encode("ACK", ids[4], "1")]);
        string[] expected = ["+OK\r\n", "-STALE\r\n", "+OK\r\n", "-STALE\r\n", "-CANCELLED\r\n", "-STALE\r\n", "+OK\r\n", "+OK\r\n"];
        string[] replies = [.. expected.Select(_ => client.ReadReply(TimeSpan.FromSeconds(30)))];
        Assert.Equal(expected, replies);
        Assert.Equal(Bulk("r0"), client.Call("RESULT", ids[0]));
        Assert.Equal(Bulk("r1"), client.Call("RESULT", ids[1]));
        Assert.Equal(Bulk("r2"), client.Call("RESULT", ids[2]));
        Assert.Equal(Bulk(""), client.Call("RESULT", ids[4]));
        Assert.Equal("-CANCELLED\r\n", client.Call("RESULT", cancelled));
    }

    [Fact]
    public void Pipelined_reads_of_known_unknown_and_repeated_ids_each_answer_as_alone()
    {
        using RawConnection client = Connect();
        string done = client.Submit("echo", "ARGS", "hi");
        Assert.Equal(Bulk("hi"), client.Result(done, 20_000));
        string waiting = client.Submit("resize", "QUEUE", "reads");
        client.Send([.. RawConnection.Encode("RESULT", done), .. RawConnection.Encode("STATUS", "999999"), .. RawConnection.Encode("RESULT", done),
                     .. RawConnection.Encode("RESULT", waiting), .. RawConnection.Encode("RESULT", "999998"), .. RawConnection.Encode("STATUS", waiting)]);
        Assert.Equal(Bulk("hi"), client.ReadReply());
        AssertNil(client.ReadReply());
        Assert.Equal(Bulk("hi"), client.ReadReply());
        Assert.Equal("-PENDING queued\r\n", client.ReadReply());
        AssertNil(client.ReadReply());
        Assert.Contains(Bulk("queued"), client.ReadReply());
    }

    [Fact]
    public void A_blocked_fetch_gets_a_delayed_task_once_it_is_due()
    {
        using RawConnection client = Connect();
        using RawConnection worker = Connect();
        worker.SendCommand("FETCH", "BLOCK", "20000", "FROM", "later");
        Thread.Sleep(100);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        string id = client.Submit("resize", "QUEUE", "later", "DELAY", "400");
        Assert.StartsWith($"*1\r\n*4\r\n{Bulk(id)}:1\r\n", worker.ReadReply(TimeSpan.FromSeconds(30)));
        Assert.True(clock.ElapsedMilliseconds >= 350, $"handed out after {clock.ElapsedMilliseconds} ms, before its delay");
    }

    [Fact]
    public void A_closed_workers_deliveries_go_back_at_once_and_a_timed_out_attempt_fails()
    {
        using RawConnection client = Connect();
        string id = client.Submit("resize", "QUEUE", "q");
        using (RawConnection doomed = Connect())
            Assert.StartsWith("*1\r\n", doomed.Call("FETCH", "LEASE", "600000", "FROM", "q"));
        Assert.Equal(2, FetchOne(client, id, queue: "q", block: 10_000));
        string slow = client.Submit("resize", "QUEUE", "slow", "TIMEOUT", "200", "RETRIES", "0");
        Assert.Equal(1, FetchOne(client, slow, queue: "slow"));
        Assert.Equal("-FAILED timed out after 200 ms\r\n", client.Result(slow, 20_000));
        Assert.Equal("-STALE\r\n", client.Call("ACK", slow, "1"));
    }

    [Fact]
    public void Queues_count_each_state_and_a_paused_queue_keeps_accepting_but_hands_nothing_out()
    {
        using RawConnection client = Connect();
        string first = client.Submit("resize", "QUEUE", "images", "ARGS", "a");
        client.Submit("resize", "QUEUE", "images", "DELAY", "600000");
        client.Submit("resize", "QUEUE", "images", "ARGS", "b");
        Assert.Equal(1, FetchOne(client, first, queue: "images"));
        Assert.Equal("+OK\r\n", client.Call("QUEUE", "PAUSE", "images"));
        Assert.Equal("+OK\r\n", client.Call("QUEUE", "PAUSE", "idle"));
        string echo = client.Submit("echo", "QUEUE", "images", "ARGS", "later");
        Dictionary<string, (long Queued, long Running, long Scheduled, long Paused)> queues = client.Queues();
        Assert.Equal(["idle", "images"], queues.Keys);
        Assert.Equal((2, 1, 1, 1), queues["images"]);
        Assert.Equal((0, 0, 0, 1), queues["idle"]);
        Assert.Equal("*0\r\n", client.Call("FETCH", "COUNT", "10", "FROM", "images"));
        Assert.Equal("-PENDING queued\r\n", client.Result(echo, 500)); // in-process workers do not take from it either
        Assert.Equal("+OK\r\n", client.Call("QUEUE", "RESUME", "images"));
        Assert.Equal(Bulk("later"), client.Result(echo, 20_000));
        Assert.StartsWith("*1\r\n*4\r\n", client.Call("FETCH", "FROM", "images"));
        Assert.Equal(0, client.Queues()["images"].Paused);
        Assert.Equal("-ERR syntax error: QUEUE PAUSE q | QUEUE RESUME q\r\n", client.Call("QUEUE", "STOP", "images"));
        Assert.Equal("-ERR wrong number of arguments for 'queues' command\r\n", client.Call("QUEUES", "x"));
    }

    [Fact]
    public void The_dead_set_lists_oldest_first_by_queue_and_count_and_retry_or_drop_take_a_task_out_once()
    {
        using RawConnection client = Connect();
        string a = client.Submit("resize", "QUEUE", "d1");
        string b = client.Submit("resize", "QUEUE", "d2");
        Assert.Equal(1, FetchOne(client, a, queue: "d1"));
        Assert.Equal("+OK\r\n", client.Call("FAIL", a, "1", "first", "NORETRY"));
        Thread.Sleep(20); // b fails strictly later
        Assert.Equal(1, FetchOne(client, b, queue: "d2"));
        Assert.Equal("+OK\r\n", client.Call("FAIL", b, "1", "second"));
        Assert.Equal([a, b], client.DeadList());
        Assert.Equal([b], client.DeadList("QUEUE", "d2"));
        Assert.Equal([a], client.DeadList("COUNT", "1"));
        Assert.Empty(client.DeadList("QUEUE", "nowhere"));
        Assert.Equal("-ERR COUNT must be a non-negative integer\r\n", client.Call("DEAD", "LIST", "COUNT", "-1"));
        Assert.Equal(":1\r\n", client.Call("DEAD", "RETRY", a));
        Assert.Equal(":0\r\n", client.Call("DEAD", "RETRY", a));
        Assert.Equal("queued", StateOf(client, a));
        Assert.Equal(1, FetchOne(client, a, queue: "d1")); // attempts reset
        Assert.Equal(":1\r\n", client.Call("DEAD", "DROP", b));
        Assert.Equal(":0\r\n", client.Call("DEAD", "DROP", b));
        AssertNil(client.Call("STATUS", b));
        Assert.Equal(":0\r\n", client.Call("DEAD", "RETRY", "12345"));
        Assert.Equal(":0\r\n", client.Call("DEAD", "DROP", "not-an-id"));
        Assert.Equal(":0\r\n", client.Call("DEAD", "DROP", a)); // running, not dead
        Assert.Empty(client.DeadList());
    }

    [Fact]
    public void Schedules_are_listed_by_name_replaced_by_add_removed_by_del_and_refused_past_the_limit()
    {
        using RawConnection client = Connect();
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "zeta", "EVERY", "60000", "echo", "ARGS", "z"));
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "alpha", "CRON", "0 3 * * *", "echo"));
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "paris", "CRON", "0 3 * * *", "TZ", "Europe/Paris", "echo", "QUEUE", "night"));
        List<RespValue> rows = [.. Parse(client.Call("SCHEDULE", "LIST")).Elements];
        Assert.Equal(["alpha", "paris", "zeta"], rows.Select(r => r.Elements[0].Text));
        Assert.Equal(["CRON 0 3 * * *", "CRON 0 3 * * * TZ Europe/Paris", "EVERY 60000"], rows.Select(r => r.Elements[1].Text));
        Assert.Equal(0, rows[2].Elements[3].IntegerValue % 60_000);
        var paris = TimeZoneInfo.FindSystemTimeZoneById("Europe/Paris");
        DateTimeOffset parisNext = TimeZoneInfo.ConvertTime(DateTimeOffset.FromUnixTimeMilliseconds(rows[1].Elements[3].IntegerValue), paris);
        Assert.Equal((3, 0), (parisNext.Hour, parisNext.Minute));
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "zeta", "EVERY", "250", "tick"));
        Assert.Equal(["zeta", "EVERY 250", "tick"], Parse(client.Call("SCHEDULE", "LIST")).Elements[2].Elements.Take(3).Select(e => e.Text));
        Assert.Equal(":1\r\n", client.Call("SCHEDULE", "DEL", "zeta"));
        Assert.Equal(":0\r\n", client.Call("SCHEDULE", "DEL", "zeta"));
        Assert.Equal("-ERR CRON expression never fires\r\n", client.Call("SCHEDULE", "ADD", "never", "CRON", "0 0 30 2 *", "echo"));
        Assert.Equal("-ERR unknown time zone 'Mars/Olympus'\r\n", client.Call("SCHEDULE", "ADD", "z", "CRON", "0 3 * * *", "TZ", "Mars/Olympus", "echo"));
        Assert.Equal(2, Parse(client.Call("SCHEDULE", "LIST")).Elements.Count);
    }

    [Fact]
    public async Task Past_max_schedules_a_new_schedule_is_refused_but_a_known_one_is_replaced()
    {
        await using var server = new TestServer(Options() with { MaxSchedules = 1 });
        using RawConnection client = server.Connect();
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "a", "EVERY", "3600000", "echo"));
        Assert.Equal("-FULL max-schedules (1) reached\r\n", client.Call("SCHEDULE", "ADD", "b", "EVERY", "3600000", "echo"));
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "a", "EVERY", "7200000", "echo"));
        Assert.Equal("EVERY 7200000", Parse(client.Call("SCHEDULE", "LIST")).Elements.Single().Elements[1].Text);
    }

    [Fact]
    public void An_every_schedule_fires_once_per_multiple_of_its_period_until_deleted()
    {
        using RawConnection client = Connect();
        long added = NowMs;
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "s", "EVERY", "200", "tick", "QUEUE", "ticks", "ARGS", "x"));
        Thread.Sleep(1500); // the firings are what is measured
        Assert.Equal(":1\r\n", client.Call("SCHEDULE", "DEL", "s"));
        long removed = NowMs;
        Thread.Sleep(500); // a firing on its way when DEL answered lands now
        string fetched = client.Call("FETCH", "COUNT", "1000", "FROM", "ticks");
        List<RespValue> tasks = [.. Parse(fetched).Elements];
        long expected = removed / 200 - added / 200;
        Assert.InRange(tasks.Count, Math.Max(1, expected - 3), expected + 1); // a stalled machine may coalesce late firings
        Assert.Equal(tasks.Count, tasks.Select(t => t.Elements[0].Text).Distinct().Count());
        Assert.All(tasks, t => Assert.Equal(("tick", 1L, "x"), (t.Elements[2].Text, t.Elements[1].IntegerValue, t.Elements[3].Elements.Single().Text)));
        Thread.Sleep(400);
        Assert.Equal("*0\r\n", client.Call("FETCH", "FROM", "ticks")); // deleted: no more firings
    }

    [Fact]
    public void A_six_field_cron_in_a_time_zone_fires_each_second_with_its_options()
    {
        using RawConnection client = Connect();
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "sec", "CRON", "* * * * * *", "TZ", "America/New_York", "tick", "QUEUE", "cronq", "PRIORITY", "7"));
        long next = Parse(client.Call("SCHEDULE", "LIST")).Elements[0].Elements[3].IntegerValue;
        Assert.Equal(0, next % 1000);
        client.SendCommand("FETCH", "BLOCK", "10000", "FROM", "cronq");
        string id = Parse(client.ReadReply(Patience)).Elements.Single().Elements[0].Text!;
        client.Call("SCHEDULE", "DEL", "sec");
        TaskStatusInfo status = client.RequireStatus($"sec@{next}"); // a firing is found by its firing id
        Assert.Equal((id, "tick", "cronq", 7), (status.Id, status.Task, status.Queue, status.Priority));
        Assert.InRange(status.CreatedAt!.Value.ToUnixTimeMilliseconds(), next - 50, next + 5_000);
        Assert.Equal("+OK\r\n", client.Call("ACK", $"sec@{next}", "1", "done"));
        Assert.Equal(Bulk("done"), client.Call("RESULT", id));
        AssertNil(client.Call("STATUS", $"sec@{next - 500}")); // no firing at that time
    }

    [Fact]
    public async Task Past_max_tasks_submit_answers_full_and_stores_nothing()
    {
        await using var server = new TestServer(Options() with { MaxTasks = 3 });
        using RawConnection client = server.Connect();
        string[] ids = [.. Enumerable.Range(0, 3).Select(i => client.Submit("resize", "QUEUE", "full", "RESULT-TTL", "1", "ARGS", $"{i}"))];
        Assert.Equal("-FULL max-tasks (3) reached\r\n", client.Call("SUBMIT", "resize", "QUEUE", "full"));
        Assert.Equal("-FULL max-tasks (3) reached\r\n", client.Call("SUBMIT", "resize", "QUEUE", "other"));
        Assert.Equal((3, 0, 0, 0), client.Queues()["full"]);
        foreach (string id in ids)
        {
            Assert.Equal(1, FetchOne(client, id, queue: "full"));
            Assert.Equal("+OK\r\n", client.Call("ACK", id, "1"));
        }
        foreach (string id in ids)
            client.PollStatus(id, s => s is null, "expired after its RESULT-TTL");
        // Expired results free their room (on PostgreSQL once the next count sees them gone).
        var clock = System.Diagnostics.Stopwatch.StartNew();
        string again;
        while ((again = client.Call("SUBMIT", "resize", "QUEUE", "full")).StartsWith("-FULL") && clock.Elapsed < Patience)
            Thread.Sleep(100);
        Assert.StartsWith("$", again);
    }

    private static void TaskStatusInfoAssert(RawConnection client, string id, string state, int attempt, string task, string queue)
    {
        TaskStatusInfo status = client.RequireStatus(id);
        Assert.Equal(state, status.State.ToString().ToLowerInvariant());
        Assert.Equal(attempt, status.Attempt);
        Assert.Equal(task, status.Task);
        Assert.Equal(queue, status.Queue);
    }

    private static string StateOf(RawConnection client, string id) => client.RequireStatus(id).State.ToString().ToLowerInvariant();

    /// <summary>FETCHes one task, which must be <paramref name="id"/>; returns its attempt.</summary>
    private static int FetchOne(RawConnection client, string id, string queue = "default", int block = 0)
    {
        string[] words = block > 0 ? ["FETCH", "BLOCK", block.ToString(), "LEASE", "60000", "FROM", queue] : ["FETCH", "LEASE", "60000", "FROM", queue];
        client.SendCommand(words);
        string raw = client.ReadReply(TimeSpan.FromMilliseconds(block) + TimeSpan.FromSeconds(20));
        Assert.StartsWith($"*1\r\n*4\r\n{Bulk(id)}:", raw);
        return int.Parse(raw.Split("\r\n")[4][1..]);
    }
}

/// <summary>The contract on the in-memory store (the default).</summary>
public sealed class MemoryStoreContractTests : QueueStoreContractTests
{
    protected override ServerOptions Options() => new();
}

/// <summary>The contract on PostgreSQL: a fresh database of the collection's cluster per test.</summary>
[Collection(nameof(PostgresCollection))]
public sealed class PostgresStoreContractTests(PostgresCluster cluster) : QueueStoreContractTests
{
    protected override ServerOptions Options() => new() { Store = cluster.NewDatabase() };
}
