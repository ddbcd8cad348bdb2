using System.Buffers;
using EventLoop.Client;
using EventLoop.Tests.Server;
using static EventLoop.Tests.Queueing.QueueKit;

namespace EventLoop.Tests.Queueing;

/// <summary>QUEUES, QUEUE PAUSE/RESUME, the INFO queueing section and the dead set (DEAD LIST/RETRY/DROP).</summary>
public sealed class QueueAndDeadSetTests : IAsyncLifetime
{
    private readonly Gate _gate = new();
    private volatile bool _toggleFails = true;
    private TestServer _server = null!;

    public Task InitializeAsync()
    {
        _server = new TestServer(registerTasks: server => server.Tasks
            .Register("gate", async (_, result, cancel) =>
            {
                await _gate.PassAsync(cancel);
                result.Write("opened"u8);
            })
            .Register("toggle", (_, result) =>
            {
                if (_toggleFails)
                    throw new InvalidOperationException("toggled off");
                result.Write("on"u8);
            }));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _gate.Open();
        await _server.DisposeAsync();
    }

    [Fact]
    public void Submits_that_alternate_names_each_keep_their_own_queue_and_task()
    {
        using RawConnection client = _server.Connect();
        client.Call("QUEUE", "PAUSE", "left");
        client.Call("QUEUE", "PAUSE", "right");
        string[] tasks = ["resize", "Resize", "resize", "echo", "ECHO"]; // external names are exact, registered ones not
        var submitted = new List<(string Id, string Task, string Queue)>();
        for (int i = 0; i < 10; i++)
        {
            string task = tasks[i % tasks.Length], queue = i % 3 == 0 ? "left" : "right";
            submitted.Add((client.Submit(task, "QUEUE", queue, "ARGS", "x"), task, queue));
        }
        foreach (var (id, task, queue) in submitted)
        {
            TaskStatusInfo status = client.RequireStatus(id);
            Assert.Equal(queue, status.Queue);
            Assert.Equal(task == "ECHO" ? "echo" : task, status.Task);
        }
        Assert.Equal(4, client.Queues()["left"].Queued);
        Assert.Equal(6, client.Queues()["right"].Queued);
    }

    [Fact]
    public void Queues_counts_queued_running_scheduled_and_retrying_and_paused()
    {
        using RawConnection client = _server.Connect();
        string q = Unique("counts");
        Assert.False(client.Queues().ContainsKey(q));
        Assert.Equal("+OK\r\n", client.Call("QUEUE", "PAUSE", q)); // pausing an unknown queue creates it
        Assert.Equal((0L, 0L, 0L, 1L), client.Queues()[q]);
        string a = client.Submit("echo", "QUEUE", q, "ARGS", "a"), b = client.Submit("echo", "QUEUE", q, "ARGS", "b");
        string later = client.Submit("echo", "QUEUE", q, "DELAY", "60000", "ARGS", "c");
        Assert.Equal((2L, 0L, 1L, 1L), client.Queues()[q]);
        Assert.Contains($"queue_{q}:queued=2,running=0,scheduled=1,paused=1", client.Info().Select(kv => $"{kv.Key}:{kv.Value}"));

        string r = Unique("running");
        string gated = client.Submit("gate", "QUEUE", r);
        string retrying = client.Submit("fail", "QUEUE", r, "RETRIES", "1", "BACKOFF", "3600000", "ARGS", "x");
        client.AwaitState(gated, TaskState.Running);
        client.AwaitState(retrying, TaskState.Retrying);
        Assert.Equal((0L, 1L, 1L, 0L), client.Queues()[r]);
        Assert.Equal("+OK\r\n", client.Call("QUEUE", "PAUSE", r)); // a running task keeps running
        _gate.Open();
        Assert.Equal(Bulk("opened"), client.Result(gated, 10_000));
        Assert.Equal((0L, 0L, 1L, 1L), client.Queues()[r]);

        Assert.Equal("+OK\r\n", client.Call("QUEUE", "RESUME", q));
        client.WaitAll(a, b);
        Assert.Equal((0L, 0L, 1L, 0L), client.Queues()[q]);
        client.Call("CANCEL", later);
        client.Call("CANCEL", retrying);
        Assert.Equal((0L, 0L, 0L, 0L), client.Queues()[q]);
        Assert.Equal((0L, 0L, 0L, 1L), client.Queues()[r]);
        Assert.Equal("+OK\r\n", client.Call("QUEUE", "RESUME", r));
        Assert.Equal("+OK\r\n", client.Call("QUEUE", "RESUME", r)); // resuming twice is fine
        Assert.Equal(client.Queues().Count, client.InfoNumber("queues"));
        string plain = client.Submit("echo", "ARGS", "d");
        Assert.Equal("default", client.RequireStatus(plain).Queue);
        Assert.Contains("default", client.Queues().Keys);
    }

    [Fact]
    public void A_paused_queue_accepts_but_hands_nothing_out_and_other_queues_keep_running()
    {
        using RawConnection client = _server.Connect();
        string paused = Unique("paused"), open = Unique("open");
        client.Call("QUEUE", "PAUSE", paused);
        string held = client.Submit("echo", "QUEUE", paused, "PRIORITY", "9", "ARGS", "held");
        string free = client.Submit("echo", "QUEUE", open, "ARGS", "free");
        Assert.Equal(Bulk("free"), client.Result(free, 10_000));
        Assert.Equal("-PENDING queued\r\n", client.Result(held, 200));
        Assert.Equal(0, client.RequireStatus(held).Attempt);
        client.Call("QUEUE", "RESUME", paused);
        Assert.Equal(Bulk("held"), client.Result(held, 10_000));
    }

    [Fact]
    public void Info_queueing_has_every_key_and_counts_states()
    {
        using RawConnection client = _server.Connect();
        string[] keys = ["tasks", "tasks_scheduled", "tasks_queued", "tasks_running", "tasks_retrying", "tasks_succeeded",
            "tasks_failed", "tasks_cancelled", "submitted_total", "succeeded_total", "failed_total", "retried_total",
            "cancelled_total", "expired_total", "timers_pending", "parked_connections", "oldest_queued_age_ms", "queues", "schedules"];
        Dictionary<string, string> before = client.Info();
        foreach (string key in keys)
            Assert.True(before.ContainsKey(key) && long.TryParse(before[key], out _), $"INFO queueing: '{key}' missing or not a number");
        string q = Unique("info");
        client.Call("QUEUE", "PAUSE", q);
        client.Submit("echo", "QUEUE", q, "ARGS", "x");
        string cancelled = client.Submit("echo", "DELAY", "60000", "ARGS", "x");
        client.Submit("echo", "DELAY", "60000", "ARGS", "x");
        client.Call("CANCEL", cancelled);
        client.WaitAll(client.Submit("fail", "ARGS", "x"), client.Submit("echo", "ARGS", "x"));
        Dictionary<string, string> after = client.Info();
        long Delta(string key) => long.Parse(after[key]) - long.Parse(before[key]);
        Assert.Equal(5, Delta("tasks"));
        Assert.Equal(5, Delta("submitted_total"));
        Assert.Equal((1L, 1L, 1L, 1L, 1L), (Delta("tasks_queued"), Delta("tasks_scheduled"), Delta("tasks_cancelled"), Delta("tasks_failed"), Delta("tasks_succeeded")));
        Assert.Equal((1L, 1L, 1L), (Delta("succeeded_total"), Delta("failed_total"), Delta("cancelled_total")));
        string queuedId = client.Submit("echo", "QUEUE", q, "ARGS", "aging");
        Assert.Equal("-PENDING queued\r\n", client.Result(queuedId, 300)); // 300 ms pass with tasks waiting in a paused queue
        Assert.True(client.InfoNumber("oldest_queued_age_ms") >= 290, $"oldest_queued_age_ms {client.InfoNumber("oldest_queued_age_ms")}");
        Assert.Equal(long.Parse(after["tasks"]), new[] { "tasks_scheduled", "tasks_queued", "tasks_running", "tasks_retrying",
            "tasks_succeeded", "tasks_failed", "tasks_cancelled" }.Sum(k => long.Parse(after[k])));
    }

    [Fact]
    public void Dead_list_is_oldest_failure_first_filtered_by_queue_and_count()
    {
        using RawConnection client = _server.Connect();
        string q1 = Unique("dead"), q2 = Unique("dead");
        var failed = new List<string>();
        foreach (string q in new[] { q1, q2, q1, q1 })
        {
            string id = client.Submit("fail", "QUEUE", q, "ARGS", $"in {q}");
            client.WaitAll(id); // one at a time: the failure order is the submission order
            failed.Add(id);
        }
        Assert.Equal([failed[0], failed[2], failed[3]], client.DeadList("QUEUE", q1));
        Assert.Equal([failed[1]], client.DeadList("QUEUE", q2));
        Assert.Equal([failed[0], failed[2]], client.DeadList("QUEUE", q1, "COUNT", "2"));
        Assert.Equal([failed[0]], client.DeadList("count", "1", "queue", q1));
        Assert.Equal(failed, client.DeadList().Where(failed.Contains));
        Assert.Empty(client.DeadList("QUEUE", Unique("no-such-queue")));
        Assert.Equal($"-FAILED in {q2}\r\n", client.Call("RESULT", failed[1]));
    }

    [Fact]
    public void Dead_list_count_defaults_to_100()
    {
        using RawConnection client = _server.Connect();
        string q = Unique("many-dead");
        string[] ids = ParkingTests.SubmitPipelined(client, 105, i => ["SUBMIT", "fail", "QUEUE", q, "ARGS", "x"]);
        client.WaitAll(ids);
        Assert.Equal(100, client.DeadList("QUEUE", q).Count);
        Assert.Equal(105, client.DeadList("QUEUE", q, "COUNT", "1000").Count);
        Assert.Equal(ids.Order(), client.DeadList("QUEUE", q, "COUNT", "1000").Order());
    }

    [Fact]
    public void Dead_retry_requeues_with_attempts_reset_and_reruns()
    {
        using RawConnection client = _server.Connect();
        string q = Unique("retry-dead");
        string id = client.Submit("toggle", "QUEUE", q, "RETRIES", "1", "BACKOFF", "1");
        Assert.Equal("-FAILED toggled off\r\n", client.Result(id, 10_000));
        Assert.Equal(2, client.RequireStatus(id).Attempt);
        Assert.Equal([id], client.DeadList("QUEUE", q));

        client.Call("QUEUE", "PAUSE", q);
        Assert.Equal(":1\r\n", client.Call("DEAD", "RETRY", id));
        TaskStatusInfo requeued = client.RequireStatus(id);
        Assert.Equal((TaskState.Queued, 0L), (requeued.State, requeued.Attempt));
        Assert.Null(requeued.FinishedAt);
        Assert.Empty(client.DeadList("QUEUE", q));
        Assert.Equal(":0\r\n", client.Call("DEAD", "RETRY", id)); // no longer dead

        _toggleFails = false;
        client.Call("QUEUE", "RESUME", q);
        Assert.Equal(Bulk("on"), client.Result(id, 10_000));
        TaskStatusInfo done = client.RequireStatus(id);
        Assert.Equal((TaskState.Succeeded, 1L), (done.State, done.Attempt));
        Assert.Equal("toggled off", done.Error); // the last error is kept when a retry succeeds
    }

    [Fact]
    public void Dead_retry_gives_back_the_full_retries()
    {
        using RawConnection client = _server.Connect();
        string id = client.Submit("toggle", "RETRIES", "2", "BACKOFF", "1");
        Assert.Equal("-FAILED toggled off\r\n", client.Result(id, 10_000));
        Assert.Equal(":1\r\n", client.Call("DEAD", "RETRY", id));
        Assert.Equal("-FAILED toggled off\r\n", client.Result(id, 10_000));
        Assert.Equal(3, client.RequireStatus(id).Attempt); // three attempts again, counted from 1
    }

    [Fact]
    public void Dead_drop_forgets_the_task()
    {
        using RawConnection client = _server.Connect();
        string q = Unique("drop");
        string id = client.Submit("fail", "QUEUE", q, "ARGS", "x");
        client.WaitAll(id);
        long tasks = client.InfoNumber("tasks");
        Assert.Equal(":1\r\n", client.Call("DEAD", "DROP", id));
        AssertNil(client.Call("STATUS", id), "STATUS after DEAD DROP");
        AssertNil(client.Call("RESULT", id), "RESULT after DEAD DROP");
        Assert.Empty(client.DeadList("QUEUE", q));
        Assert.Equal(tasks - 1, client.InfoNumber("tasks"));
        Assert.Equal(":0\r\n", client.Call("DEAD", "DROP", id));
        Assert.Equal(":0\r\n", client.Call("DEAD", "RETRY", id));
    }

    [Fact]
    public void Dead_retry_and_drop_of_tasks_not_in_the_dead_set_are_0_and_change_nothing()
    {
        using RawConnection client = _server.Connect();
        string succeeded = client.Submit("echo", "ARGS", "x");
        client.WaitAll(succeeded);
        string scheduled = client.Submit("echo", "DELAY", "60000", "ARGS", "x");
        string cancelled = client.Submit("echo", "DELAY", "60000", "ARGS", "x");
        client.Call("CANCEL", cancelled);
        foreach (string id in new[] { succeeded, scheduled, cancelled, "123", "unknown" })
        {
            TaskStatusInfo? before = client.Status(id);
            Assert.Equal(":0\r\n", client.Call("DEAD", "RETRY", id));
            Assert.Equal(":0\r\n", client.Call("DEAD", "DROP", id));
            Assert.Equal(before, client.Status(id));
        }
    }
}
