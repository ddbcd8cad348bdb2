using EventLoop.Client;
using EventLoop.Tests.Server;
using EventLoop.Tests.Support;
using static EventLoop.Tests.Queueing.QueueKit;

namespace EventLoop.Tests.Queueing;

/// <summary>The queue's limits (ServerOptions MaxTasks, MaxQueues, MaxSchedules, MaxResultBytes): past them SUBMIT answers -FULL and nothing grows.</summary>
public sealed class LimitTests
{
    [Fact]
    public async Task Max_tasks_refuses_the_eleventh_and_changes_nothing()
    {
        await using var server = new TestServer(new ServerOptions { MaxTasks = 10 });
        using RawConnection client = server.Connect();
        client.Call("QUEUE", "PAUSE", "full");
        string[] ids = [.. Enumerable.Range(0, 10).Select(i => client.Submit("echo", "QUEUE", "full", "ARGS", $"{i}"))];
        Assert.Equal("-FULL max-tasks (10) reached\r\n", client.Call("SUBMIT", "echo", "QUEUE", "full", "ARGS", "x"));
        Assert.Equal("-FULL max-tasks (10) reached\r\n", client.Call("SUBMIT", "echo", "QUEUE", "other", "ARGS", "x"));
        Assert.Equal(10, client.InfoNumber("tasks"));
        Assert.Equal(10, client.InfoNumber("submitted_total"));
        Assert.Equal(10, client.Queues()["full"].Queued);
        Assert.False(client.Queues().ContainsKey("other"));
        Assert.Equal("+OK\r\n", client.Call("QUEUE", "RESUME", "full"));
        client.WaitAll(ids);
        Assert.Equal("-FULL max-tasks (10) reached\r\n", client.Call("SUBMIT", "echo", "ARGS", "x")); // finished ones are kept for their ttl
        Assert.Equal(Bulk("9"), client.Call("RESULT", ids[9]));
    }

    [Fact]
    public async Task Max_tasks_counts_kept_results_until_they_expire()
    {
        await using var server = new TestServer(new ServerOptions { MaxTasks = 3 });
        using RawConnection client = server.Connect();
        string[] ids = [.. Enumerable.Range(0, 3).Select(i => client.Submit("echo", "RESULT-TTL", "1", "ARGS", "x"))];
        client.WaitAll(ids);
        Assert.Equal("-FULL max-tasks (3) reached\r\n", client.Call("SUBMIT", "echo", "ARGS", "x"));
        foreach (string id in ids)
            client.PollStatus(id, s => s is null, "expired");
        Assert.Equal(Bulk("y"), client.Result(client.Submit("echo", "ARGS", "y"), 10_000));
    }

    [Fact]
    public async Task Max_queues_refuses_a_new_queue_but_not_a_known_one()
    {
        await using var server = new TestServer(new ServerOptions { MaxQueues = 2 });
        using RawConnection client = server.Connect();
        client.WaitAll(client.Submit("echo", "QUEUE", "one", "ARGS", "x"));
        client.Call("QUEUE", "PAUSE", "two");
        Assert.Equal("-FULL max-queues (2) reached\r\n", client.Call("SUBMIT", "echo", "QUEUE", "three", "ARGS", "x"));
        Assert.Equal("-FULL max-queues (2) reached\r\n", client.Call("SUBMIT", "echo", "ARGS", "x")); // default is a queue like any other
        Assert.Equal(["one", "two"], client.Queues().Keys);
        Assert.Equal(1, client.InfoNumber("tasks"));
        client.WaitAll(client.Submit("echo", "QUEUE", "one", "ARGS", "y"));
    }

    [Fact]
    public async Task Max_queues_counts_queues_that_hold_something_not_names_a_fetch_tried()
    {
        await using var server = new TestServer(new ServerOptions { MaxQueues = 4 });
        using RawConnection client = server.Connect();
        string kept = client.Submit("echo", "QUEUE", "kept", "ARGS", "x");
        client.WaitAll(kept);
        client.Call("QUEUE", "PAUSE", "paused");
        for (int i = 0; i < 100; i++)
            Assert.Equal("*0\r\n", client.Call("FETCH", "FROM", $"typo{i}", $"other{i}")); // a worker's misspelt queue names
        client.Submit("echo", "QUEUE", "new1", "DELAY", "60000", "ARGS", "x");
        client.Submit("echo", "QUEUE", "new2", "DELAY", "60000", "ARGS", "x");
        Assert.Equal("-FULL max-queues (4) reached\r\n", client.Call("SUBMIT", "echo", "QUEUE", "new3", "ARGS", "x"));
        Assert.Equal(["kept", "new1", "new2", "paused"], client.Queues().Keys.Order(StringComparer.Ordinal));
        Assert.Equal(Bulk("x"), client.Call("RESULT", kept));
    }

    [Fact]
    public async Task At_max_queues_a_fetch_from_a_new_name_answers_empty_unless_it_would_wait()
    {
        await using var server = new TestServer(new ServerOptions { MaxQueues = 2 });
        using RawConnection client = server.Connect();
        client.Call("QUEUE", "PAUSE", "one");
        string held = client.Submit("job", "QUEUE", "two");
        Assert.Equal("*0\r\n", client.Call("FETCH", "FROM", "nobody")); // nothing to fetch there, nothing to hold
        Assert.Equal("-FULL max-queues (2) reached\r\n", client.Call("FETCH", "BLOCK", "10", "FROM", "nobody"));
        RespValue fetched = Parse(client.Call("FETCH", "BLOCK", "10", "FROM", "nobody", "two"));
        Assert.Equal(held, fetched.Elements.Single().Elements[0].Text); // a task at hand needs no new queue to wait on
        Assert.Equal(["one", "two"], client.Queues().Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task At_max_queues_a_queue_whose_tasks_all_expired_makes_room_but_not_one_with_a_dead_task_or_a_blocked_fetch()
    {
        await using var server = new TestServer(new ServerOptions { MaxQueues = 3 });
        using RawConnection client = server.Connect();
        using RawConnection fetcher = server.Connect();
        string dead = client.Submit("fail", "QUEUE", "dead", "ARGS", "boom");
        client.AwaitState(dead, TaskState.Failed);
        fetcher.SendCommand("FETCH", "BLOCK", "0", "FROM", "blocked");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!Parse(client.Call("INFO", "workers")).Text!.Contains("external_blocked_fetchers:1\r\n", StringComparison.Ordinal))
        {
            Assert.True(clock.Elapsed < Patience, "the FETCH never blocked");
            Thread.Sleep(10);
        }
        string brief = client.Submit("echo", "QUEUE", "brief", "RESULT-TTL", "1", "ARGS", "x");
        client.WaitAll(brief);
        Assert.Equal("-FULL max-queues (3) reached\r\n", client.Call("SUBMIT", "echo", "QUEUE", "fresh", "ARGS", "x"));
        client.PollStatus(brief, s => s is null, "expired");

        client.WaitAll(client.Submit("echo", "QUEUE", "fresh", "ARGS", "x")); // "brief" held nothing any more
        Assert.Equal("-FULL max-queues (3) reached\r\n", client.Call("SUBMIT", "echo", "QUEUE", "fresh2", "ARGS", "x"));
        Assert.Equal("*1\r\n" + Bulk(dead), client.Call("DEAD", "LIST", "QUEUE", "dead"));
        string woken = client.Submit("job", "QUEUE", "blocked");
        Assert.Equal(woken, Parse(fetcher.ReadReply(Patience)).Elements.Single().Elements[0].Text);
    }

    [Fact]
    public async Task Max_schedules_refuses_a_new_schedule_but_replaces_a_known_one()
    {
        await using var server = new TestServer(new ServerOptions { MaxSchedules = 2 });
        using RawConnection client = server.Connect();
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "a", "EVERY", "3600000", "echo", "ARGS", "x"));
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "b", "EVERY", "3600000", "echo", "ARGS", "x"));
        Assert.Equal("-FULL max-schedules (2) reached\r\n", client.Call("SCHEDULE", "ADD", "c", "EVERY", "3600000", "echo", "ARGS", "x"));
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "b", "EVERY", "7200000", "echo", "ARGS", "x"));
        Assert.Equal(2, Parse(client.Call("SCHEDULE", "LIST")).Elements.Count);
        Assert.Equal(":1\r\n", client.Call("SCHEDULE", "DEL", "a"));
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "c", "EVERY", "3600000", "echo", "ARGS", "x"));
    }

    [Fact]
    public async Task A_result_over_max_result_bytes_fails_the_attempt()
    {
        await using var server = new TestServer(new ServerOptions { MaxResultBytes = 16 });
        using RawConnection client = server.Connect();
        string fits = client.Submit("echo", "ARGS", new string('a', 16));
        Assert.Equal(Bulk(new string('a', 16)), client.Result(fits, 10_000));
        string big = client.Submit("echo", "RETRIES", "1", "BACKOFF", "1", "ARGS", new string('b', 17));
        Assert.Equal("-FAILED result of 17 bytes exceeds max-result-bytes (16)\r\n", client.Result(big, 10_000));
        TaskStatusInfo status = client.RequireStatus(big);
        Assert.Equal((TaskState.Failed, 2L, "result of 17 bytes exceeds max-result-bytes (16)"), (status.State, status.Attempt, status.Error));
    }

    [Fact]
    public async Task The_servers_task_timeout_applies_when_submit_gives_none_or_0()
    {
        await using var server = new TestServer(new ServerOptions { TaskTimeout = TimeSpan.FromMilliseconds(200) });
        using RawConnection client = server.Connect();
        string plain = client.Submit("sleep", "ARGS", "5000");
        string zero = client.Submit("sleep", "TIMEOUT", "0", "ARGS", "5000");
        string own = client.Submit("sleep", "TIMEOUT", "5000", "ARGS", "10");
        Assert.Equal("-FAILED timed out after 200 ms\r\n", client.Result(plain, 20_000));
        Assert.Equal("-FAILED timed out after 200 ms\r\n", client.Result(zero, 20_000));
        Assert.Equal(Bulk("OK"), client.Result(own, 20_000));
    }

    [Fact]
    public async Task Failed_tasks_stay_for_the_dead_ttl_not_their_result_ttl()
    {
        await using var server = new TestServer(new ServerOptions { DeadTaskTtl = TimeSpan.FromSeconds(2) });
        using RawConnection client = server.Connect();
        string failed = client.Submit("fail", "RESULT-TTL", "1", "ARGS", "x");
        client.WaitAll(failed);
        string marker = client.Submit("echo", "RESULT-TTL", "1", "ARGS", "m");
        client.WaitAll(marker);
        client.PollStatus(marker, s => s is null, "expired"); // a result ttl of 1 s has passed ...
        Assert.Equal(TaskState.Failed, client.State(failed)); // ... and the failed task is still in the dead set
        Assert.Equal([failed], client.DeadList());
        long finished = client.RequireStatus(failed).FinishedAt!.Value.ToUnixTimeMilliseconds();
        client.PollStatus(failed, s => s is null, "dropped after the dead ttl");
        Assert.True(NowMs - finished >= 1900, $"dropped {NowMs - finished} ms after failing, dead ttl 2 s");
        Assert.Empty(client.DeadList());
        Assert.Equal(":0\r\n", client.Call("DEAD", "RETRY", failed));
    }

    [Fact]
    public async Task Result_ttl_0_forgets_the_task_once_it_finished()
    {
        await using var server = new TestServer(new ServerOptions { MaxTasks = 2 });
        using RawConnection client = server.Connect();
        string id = client.Submit("echo", "RESULT-TTL", "0", "ARGS", "x");
        client.PollStatus(id, s => s is null, "forgotten");
        client.AwaitInfo("tasks", 0);
        string[] more = [client.Submit("echo", "RESULT-TTL", "0", "ARGS", "y"), client.Submit("echo", "DELAY", "60000", "ARGS", "z")];
        Assert.Equal(2, more.Distinct().Count());
    }

    [Fact]
    public async Task The_serve_command_takes_the_limits_as_named_options()
    {
        using CliServer server = await CliServer.StartAsync("--max-tasks", "2", "--max-queues", "1", "--max-schedules", "1", "--max-result-bytes", "4");
        using RawConnection client = RawConnection.Open(server.Port);
        string big = client.Submit("echo", "ARGS", "12345");
        Assert.Equal("-FAILED result of 5 bytes exceeds max-result-bytes (4)\r\n", client.Result(big, 10_000));
        Assert.Equal("-FULL max-queues (1) reached\r\n", client.Call("SUBMIT", "echo", "QUEUE", "second", "ARGS", "x"));
        client.Submit("echo", "DELAY", "60000", "ARGS", "x");
        Assert.Equal("-FULL max-tasks (2) reached\r\n", client.Call("SUBMIT", "echo", "ARGS", "x"));
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "a", "EVERY", "3600000", "echo", "ARGS", "x"));
        Assert.Equal("-FULL max-schedules (1) reached\r\n", client.Call("SCHEDULE", "ADD", "b", "EVERY", "3600000", "echo", "ARGS", "x"));
    }
}
