using System.Buffers;
using System.Diagnostics;
using System.Text.RegularExpressions;
using EventLoop.Client;
using EventLoop.Tests.Server;
using static EventLoop.Tests.Queueing.QueueKit;

namespace EventLoop.Tests.Queueing;

/// <summary>
/// Every state of a task and every way between them (TASKS.md "Producer", wire-spec.md STATUS/RESULT/CANCEL/WAIT),
/// over a real socket to a server with the built-in tasks and a gated one the test opens.
/// </summary>
public sealed partial class LifecycleTests : IAsyncLifetime
{
    private readonly Gate _gate = new();
    private readonly Gate _stubbornGate = new();
    private readonly TaskCompletionSource _stubbornReturned = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TestServer _server = null!;
    private long _startMs;

    public Task InitializeAsync()
    {
        _startMs = NowMs;
        _server = new TestServer(registerTasks: server => server.Tasks
            .Register("gate", async (args, result, cancel) =>
            {
                await _gate.PassAsync(cancel);
                result.Write("opened"u8);
            })
            .Register("stubborn", async (args, result, _) =>
            {
                await _stubbornGate.PassAsync(CancellationToken.None); // ignores cancellation on purpose
                result.Write("late"u8);
                _stubbornReturned.TrySetResult();
            }));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _gate.Open();
        _stubbornGate.Open();
        await _server.DisposeAsync();
    }

    [GeneratedRegex(@"^\*22\r\n\$2\r\nid\r\n\$\d+\r\n(?<id>\d+)\r\n\$4\r\ntask\r\n\$4\r\necho\r\n\$5\r\nqueue\r\n\$7\r\ndefault\r\n" +
                    @"\$5\r\nstate\r\n\$9\r\nsucceeded\r\n\$7\r\nattempt\r\n:1\r\n\$8\r\npriority\r\n:0\r\n" +
                    @"\$10\r\ncreated_ms\r\n:(?<created>\d+)\r\n\$9\r\nrun_at_ms\r\n:(?<runat>\d+)\r\n\$10\r\nstarted_ms\r\n:(?<started>\d+)\r\n" +
                    @"\$11\r\nfinished_ms\r\n:(?<finished>\d+)\r\n\$5\r\nerror\r\n\$0\r\n\r\n$")]
    private static partial Regex SucceededEchoStatus();

    [Fact]
    public void Status_is_22_elements_in_the_decided_order_with_integer_times()
    {
        using RawConnection client = _server.Connect();
        string id = client.Submit("echo", "ARGS", "x");
        Assert.Equal(Bulk("x"), client.Result(id, 10_000));
        string raw = client.Call("STATUS", id);
        Match match = SucceededEchoStatus().Match(raw);
        Assert.True(match.Success, Show(raw));
        Assert.Equal(id, match.Groups["id"].Value);
        long created = long.Parse(match.Groups["created"].Value), runAt = long.Parse(match.Groups["runat"].Value);
        long started = long.Parse(match.Groups["started"].Value), finished = long.Parse(match.Groups["finished"].Value);
        Assert.InRange(created, _startMs - 1000, NowMs + 1000);
        Assert.True(created <= runAt && runAt <= started && started <= finished, $"times out of order: {Show(raw)}");
    }

    [Fact]
    public void Ids_are_decimal_unique_and_start_at_the_start_time_times_two_to_the_twentieth()
    {
        using RawConnection client = _server.Connect();
        var ids = new HashSet<string>();
        for (int i = 0; i < 50; i++)
            Assert.True(ids.Add(client.Submit("echo", "ARGS", "x")));
        foreach (string id in ids)
        {
            Assert.Matches("^[0-9]+$", id);
            long ms = long.Parse(id) >> 20;
            Assert.InRange(ms, _startMs - 5_000, NowMs);
        }
        client.WaitAll([.. ids]);
    }

    [Fact]
    public void A_delayed_task_goes_scheduled_queued_running_succeeded()
    {
        using RawConnection client = _server.Connect();
        string queue = Unique("life");
        Assert.Equal("+OK\r\n", client.Call("QUEUE", "PAUSE", queue));
        long before = NowMs;
        string id = client.Submit("gate", "QUEUE", queue, "PRIORITY", "4", "DELAY", "800");

        TaskStatusInfo scheduled = client.RequireStatus(id);
        Assert.Equal(TaskState.Scheduled, scheduled.State);
        Assert.Equal((id, "gate", queue, 0L, 4), (scheduled.Id, scheduled.Task, scheduled.Queue, scheduled.Attempt, scheduled.Priority));
        Assert.Null(scheduled.StartedAt);
        Assert.Null(scheduled.FinishedAt);
        Assert.Null(scheduled.Error);
        long created = scheduled.CreatedAt!.Value.ToUnixTimeMilliseconds();
        Assert.InRange(created, before - 1000, NowMs + 1000);
        Assert.InRange(scheduled.RunAt!.Value.ToUnixTimeMilliseconds() - created, 795, 805);
        Assert.Equal("-PENDING scheduled\r\n", client.Call("RESULT", id));

        TaskStatusInfo queued = client.AwaitState(id, TaskState.Queued); // paused: it waits in the queue
        Assert.Equal(0, queued.Attempt);
        Assert.Null(queued.StartedAt);
        Assert.Equal("-PENDING queued\r\n", client.Call("RESULT", id));
        Assert.True(NowMs - created >= 790, "queued before its delay passed");

        Assert.Equal("+OK\r\n", client.Call("QUEUE", "RESUME", queue));
        TaskStatusInfo running = client.AwaitState(id, TaskState.Running);
        Assert.Equal(1, running.Attempt);
        Assert.NotNull(running.StartedAt);
        Assert.Null(running.FinishedAt);
        Assert.Equal("-PENDING running\r\n", client.Call("RESULT", id));

        _gate.Open();
        Assert.Equal(Bulk("opened"), client.Result(id, 20_000));
        TaskStatusInfo done = client.RequireStatus(id);
        Assert.Equal(TaskState.Succeeded, done.State);
        Assert.Equal(1, done.Attempt);
        Assert.True(done.FinishedAt >= done.StartedAt);
        Assert.Null(done.Error);
        Assert.Equal(Bulk("opened"), client.Call("RESULT", id)); // kept, answered at once
    }

    [Fact]
    public void AT_in_the_past_runs_now_and_AT_in_the_future_is_scheduled_until_then()
    {
        using RawConnection client = _server.Connect();
        string past = client.Submit("echo", "AT", "1000", "ARGS", "p");
        Assert.Equal(Bulk("p"), client.Result(past, 10_000));
        long at = NowMs + 60_000;
        string future = client.Submit("echo", "AT", at.ToString(), "ARGS", "f");
        TaskStatusInfo status = client.RequireStatus(future);
        Assert.Equal(TaskState.Scheduled, status.State);
        Assert.Equal(at, status.RunAt!.Value.ToUnixTimeMilliseconds());
        Assert.Equal(":1\r\n", client.Call("CANCEL", future));
    }

    [Fact]
    public void A_failing_task_with_retries_goes_retrying_then_failed_into_the_dead_set()
    {
        using RawConnection client = _server.Connect();
        string queue = Unique("retry");
        string id = client.Submit("fail", "QUEUE", queue, "RETRIES", "2", "BACKOFF", "50", "ARGS", "boom");
        TaskStatusInfo retrying = client.PollStatus(id, s => s?.State is TaskState.Retrying or TaskState.Failed, "retrying")!;
        if (retrying.State == TaskState.Retrying) // seen unless the machine stalled past the backoff
            Assert.Equal("boom", retrying.Error);
        Assert.Equal("-FAILED boom\r\n", client.Result(id, 20_000));
        TaskStatusInfo failed = client.RequireStatus(id);
        Assert.Equal(TaskState.Failed, failed.State);
        Assert.Equal(3, failed.Attempt);
        Assert.Equal("boom", failed.Error);
        Assert.NotNull(failed.FinishedAt);
        Assert.Equal([id], client.DeadList("QUEUE", queue));
    }

    [Fact]
    public void A_retrying_task_says_pending_retrying_and_keeps_its_error()
    {
        using RawConnection client = _server.Connect();
        string id = client.Submit("fail", "RETRIES", "1", "BACKOFF", "3600000", "ARGS", "first");
        TaskStatusInfo status = client.AwaitState(id, TaskState.Retrying);
        Assert.Equal(1, status.Attempt);
        Assert.Equal("first", status.Error);
        Assert.Null(status.FinishedAt);
        Assert.True(status.RunAt > status.StartedAt, "run_at_ms is when the retry becomes runnable");
        Assert.Equal("-PENDING retrying\r\n", client.Call("RESULT", id));
        Assert.Equal(":1\r\n", client.Call("CANCEL", id));
    }

    [Fact]
    public void Cancel_a_scheduled_task()
    {
        using RawConnection client = _server.Connect();
        string id = client.Submit("echo", "DELAY", "60000", "ARGS", "x");
        Assert.Equal(TaskState.Scheduled, client.State(id));
        Assert.Equal(":1\r\n", client.Call("CANCEL", id));
        AssertCancelledForGood(client, id, attempts: 0);
    }

    [Fact]
    public void Cancel_a_queued_task_in_a_paused_queue_and_it_never_runs()
    {
        using RawConnection client = _server.Connect();
        string queue = Unique("cancelq");
        client.Call("QUEUE", "PAUSE", queue);
        string id = client.Submit("echo", "QUEUE", queue, "ARGS", "x");
        Assert.Equal(TaskState.Queued, client.State(id));
        Assert.Equal(":1\r\n", client.Call("CANCEL", id));
        Assert.Equal("+OK\r\n", client.Call("QUEUE", "RESUME", queue));
        string after = client.Submit("echo", "QUEUE", queue, "ARGS", "y"); // the queue runs what is in it
        Assert.Equal(Bulk("y"), client.Result(after, 10_000));
        AssertCancelledForGood(client, id, attempts: 0);
    }

    [Fact]
    public void Cancel_a_retrying_task()
    {
        using RawConnection client = _server.Connect();
        string id = client.Submit("fail", "RETRIES", "5", "BACKOFF", "3600000", "ARGS", "boom");
        client.AwaitState(id, TaskState.Retrying);
        Assert.Equal(":1\r\n", client.Call("CANCEL", id));
        TaskStatusInfo status = AssertCancelledForGood(client, id, attempts: 1);
        Assert.Equal("boom", status.Error);
    }

    [Fact]
    public void Cancel_a_running_task_cancels_it_at_once()
    {
        using RawConnection client = _server.Connect();
        string id = client.Submit("sleep", "ARGS", "60000");
        client.AwaitState(id, TaskState.Running);
        var clock = Stopwatch.StartNew();
        Assert.Equal(":1\r\n", client.Call("CANCEL", id));
        Assert.Equal("-CANCELLED\r\n", client.Call("RESULT", id));
        Assert.Equal(1, client.Wait([id], TimeSpan.FromSeconds(5)));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));
        AssertCancelledForGood(client, id, attempts: 1);
        client.AwaitInfo("tasks_running", 0); // the handler saw its token and let go
    }

    [Fact]
    public void Cancel_a_gated_running_task_wakes_its_parked_result()
    {
        using RawConnection client = _server.Connect();
        using RawConnection waiter = _server.Connect();
        string id = client.Submit("gate");
        client.AwaitState(id, TaskState.Running);
        waiter.SendCommand("RESULT", id, "TIMEOUT", "0");
        client.AwaitInfo("parked_connections", 1);
        Assert.Equal(":1\r\n", client.Call("CANCEL", id));
        Assert.Equal("-CANCELLED\r\n", waiter.ReadReply());
    }

    [Fact]
    public async Task A_handler_that_ignores_cancellation_cannot_undo_it()
    {
        using RawConnection client = _server.Connect();
        string id = client.Submit("stubborn");
        client.AwaitState(id, TaskState.Running);
        Assert.Equal(":1\r\n", client.Call("CANCEL", id));
        Assert.Equal(TaskState.Cancelled, client.State(id)); // at once, though the handler still runs
        long succeeded = client.InfoNumber("succeeded_total");
        _stubbornGate.Open();
        await _stubbornReturned.Task.WaitAsync(Patience);
        Assert.Equal("+PONG\r\n", client.Call("PING"));
        string after = client.Submit("echo", "ARGS", "x"); // the late result has reached the reactor by the time this ran
        client.WaitAll(after);
        Assert.Equal(TaskState.Cancelled, client.State(id));
        Assert.Equal("-CANCELLED\r\n", client.Call("RESULT", id));
        Assert.Equal(succeeded + 1, client.InfoNumber("succeeded_total")); // only the echo
    }

    [Fact]
    public void Cancel_a_finished_task_is_0_and_changes_nothing_and_an_unknown_one_is_nil()
    {
        using RawConnection client = _server.Connect();
        string id = client.Submit("echo", "ARGS", "kept");
        Assert.Equal(Bulk("kept"), client.Result(id, 10_000));
        TaskStatusInfo before = client.RequireStatus(id);
        Assert.Equal(":0\r\n", client.Call("CANCEL", id));
        Assert.Equal(before, client.RequireStatus(id));
        Assert.Equal(Bulk("kept"), client.Call("RESULT", id));

        string failed = client.Submit("fail", "ARGS", "x");
        Assert.Equal("-FAILED x\r\n", client.Result(failed, 10_000));
        Assert.Equal(":0\r\n", client.Call("CANCEL", failed));
        Assert.Equal(TaskState.Failed, client.State(failed));

        string cancelled = client.Submit("echo", "DELAY", "60000", "ARGS", "x");
        Assert.Equal(":1\r\n", client.Call("CANCEL", cancelled));
        Assert.Equal(":0\r\n", client.Call("CANCEL", cancelled));

        AssertNil(client.Call("CANCEL", "123"), "CANCEL unknown");
        AssertNil(client.Call("CANCEL", "no-such-id"), "CANCEL unknown");
    }

    [Fact]
    public void Unknown_ids_are_nil_for_status_and_result_and_never_counted_by_wait()
    {
        using RawConnection client = _server.Connect();
        AssertNil(client.Call("STATUS", "1"), "STATUS");
        AssertNil(client.Call("RESULT", "1"), "RESULT");
        AssertNil(client.Call("RESULT", "nope", "TIMEOUT", "100000"), "RESULT TIMEOUT on unknown"); // answers at once
        var clock = Stopwatch.StartNew();
        Assert.Equal(":0\r\n", client.Call("WAIT", "0", "unknown-1", "unknown-2")); // not waited for: no hang with 0
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));
        string done = client.Submit("echo", "ARGS", "x");
        client.WaitAll(done);
        Assert.Equal(":1\r\n", client.Call("WAIT", "0", done, "mistyped"));
    }

    [Fact]
    public void Wait_counts_each_listed_occurrence_and_times_out_with_a_short_count()
    {
        using RawConnection client = _server.Connect();
        string done = client.Submit("echo", "ARGS", "x");
        client.WaitAll(done);
        string later = client.Submit("echo", "DELAY", "60000", "ARGS", "x");
        Assert.Equal(":2\r\n", client.Call("WAIT", "0", done, done));
        var clock = Stopwatch.StartNew();
        Assert.Equal(":1\r\n", client.Call("WAIT", "200", done, later));
        Assert.True(clock.ElapsedMilliseconds >= 180, $"WAIT 200 answered after {clock.ElapsedMilliseconds} ms");
        client.Call("CANCEL", later);
        Assert.Equal(":2\r\n", client.Call("WAIT", "0", done, later));
    }

    [Fact]
    public void Wait_wakes_when_the_last_task_finishes()
    {
        using RawConnection client = _server.Connect();
        using RawConnection waiter = _server.Connect();
        string a = client.Submit("gate"), b = client.Submit("echo", "ARGS", "x");
        var clock = Stopwatch.StartNew();
        waiter.SendCommand("WAIT", "30000", a, b);
        client.AwaitInfo("parked_connections", 1);
        _gate.Open();
        Assert.Equal(":2\r\n", waiter.ReadReply(TimeSpan.FromSeconds(40)));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20));
    }

    [Fact]
    public void A_result_expires_after_its_ttl_and_the_id_is_then_unknown()
    {
        using RawConnection client = _server.Connect();
        string id = client.Submit("echo", "RESULT-TTL", "1", "ARGS", "brief");
        Assert.Equal(Bulk("brief"), client.Result(id, 10_000));
        long finished = client.RequireStatus(id).FinishedAt!.Value.ToUnixTimeMilliseconds();
        client.PollStatus(id, s => s is null, "expired");
        long gone = NowMs;
        Assert.True(gone - finished >= 950, $"expired {gone - finished} ms after finishing, before its 1 s ttl");
        Assert.True(gone - finished < 15_000, $"still there {gone - finished} ms after finishing");
        AssertNil(client.Call("RESULT", id), "RESULT after expiry");
        AssertNil(client.Call("CANCEL", id), "CANCEL after expiry");
        Assert.Equal(":0\r\n", client.Call("WAIT", "0", id));
        Assert.True(client.InfoNumber("expired_total") >= 1);
    }

    [Fact]
    public void A_cancelled_task_is_kept_for_its_result_ttl_too()
    {
        using RawConnection client = _server.Connect();
        string id = client.Submit("echo", "DELAY", "60000", "RESULT-TTL", "1", "ARGS", "x");
        Assert.Equal(":1\r\n", client.Call("CANCEL", id));
        Assert.Equal("-CANCELLED\r\n", client.Call("RESULT", id));
        long cancelled = client.RequireStatus(id).FinishedAt!.Value.ToUnixTimeMilliseconds();
        client.PollStatus(id, s => s is null, "expired");
        Assert.True(NowMs - cancelled >= 950, $"expired {NowMs - cancelled} ms after its cancellation, before its 1 s ttl");
        AssertNil(client.Call("RESULT", id), "RESULT after expiry");
    }

    [Fact]
    public void The_default_result_ttl_keeps_results_well_past_a_second()
    {
        using RawConnection client = _server.Connect();
        string id = client.Submit("echo", "ARGS", "x");
        Assert.Equal(Bulk("x"), client.Result(id, 10_000));
        string brief = client.Submit("echo", "RESULT-TTL", "1", "ARGS", "x");
        client.WaitAll(brief);
        client.PollStatus(brief, s => s is null, "expired"); // a 1 s ttl passed ...
        Assert.Equal(Bulk("x"), client.Call("RESULT", id)); // ... the default 3600 s did not
    }

    [Fact]
    public void Key_returns_the_unfinished_tasks_id_and_a_new_one_once_it_finished()
    {
        using RawConnection client = _server.Connect();
        string queue = Unique("keyq"), key = Unique("key");
        client.Call("QUEUE", "PAUSE", queue);
        string first = client.Submit("echo", "QUEUE", queue, "KEY", key, "ARGS", "1");
        Assert.Equal(first, client.Submit("echo", "QUEUE", queue, "KEY", key, "ARGS", "2"));
        Assert.Equal(first, client.Submit("echo", "KEY", key, "PRIORITY", "9", "ARGS", "3"));
        Assert.Equal(1, client.Queues()[queue].Queued);
        string other = client.Submit("echo", "QUEUE", queue, "KEY", key + "-other", "ARGS", "4");
        Assert.NotEqual(first, other);
        client.Call("QUEUE", "RESUME", queue);
        Assert.Equal(Bulk("1"), client.Result(first, 10_000));
        string second = client.Submit("echo", "KEY", key, "ARGS", "5");
        Assert.NotEqual(first, second);
        Assert.Equal(Bulk("5"), client.Result(second, 10_000));
        Assert.Equal(Bulk("1"), client.Call("RESULT", first));

        string cancelled = client.Submit("echo", "DELAY", "60000", "KEY", key, "ARGS", "6");
        Assert.NotEqual(second, cancelled);
        client.Call("CANCEL", cancelled);
        Assert.NotEqual(cancelled, client.Submit("echo", "KEY", key, "ARGS", "7")); // cancelled is finished

        string failKey = Unique("key");
        string failed = client.Submit("fail", "KEY", failKey, "ARGS", "x");
        Assert.Equal("-FAILED x\r\n", client.Result(failed, 10_000));
        Assert.NotEqual(failed, client.Submit("echo", "KEY", failKey, "ARGS", "8")); // failed is finished too
    }

    [Fact]
    public void Key_holds_through_running_and_retrying()
    {
        using RawConnection client = _server.Connect();
        string key = Unique("key");
        string running = client.Submit("gate", "KEY", key);
        client.AwaitState(running, TaskState.Running);
        Assert.Equal(running, client.Submit("echo", "KEY", key, "ARGS", "x"));
        _gate.Open();
        client.WaitAll(running);
        string retryKey = Unique("key");
        string retrying = client.Submit("fail", "KEY", retryKey, "RETRIES", "1", "BACKOFF", "3600000", "ARGS", "x");
        client.AwaitState(retrying, TaskState.Retrying);
        Assert.Equal(retrying, client.Submit("echo", "KEY", retryKey, "ARGS", "y"));
        client.Call("CANCEL", retrying);
    }

    [Fact]
    public void A_run_longer_than_its_timeout_fails_the_attempt()
    {
        using RawConnection client = _server.Connect();
        var clock = Stopwatch.StartNew();
        string id = client.Submit("sleep", "TIMEOUT", "200", "ARGS", "2000");
        Assert.Equal("-FAILED timed out after 200 ms\r\n", client.Result(id, 20_000));
        Assert.True(clock.ElapsedMilliseconds >= 190, $"failed after {clock.ElapsedMilliseconds} ms");
        TaskStatusInfo status = client.RequireStatus(id);
        Assert.Equal(TaskState.Failed, status.State);
        Assert.Equal("timed out after 200 ms", status.Error);
        long ran = (status.FinishedAt!.Value - status.StartedAt!.Value).WholeMs();
        Assert.InRange(ran, 190, 1900);
        Assert.Contains(id, client.DeadList());
    }

    [Fact]
    public void A_timed_out_attempt_is_retried_like_any_failure()
    {
        using RawConnection client = _server.Connect();
        string id = client.Submit("sleep", "TIMEOUT", "100", "RETRIES", "1", "BACKOFF", "10", "ARGS", "5000");
        Assert.Equal("-FAILED timed out after 100 ms\r\n", client.Result(id, 20_000));
        Assert.Equal(2, client.RequireStatus(id).Attempt);
    }

    private static TaskStatusInfo AssertCancelledForGood(RawConnection client, string id, int attempts)
    {
        TaskStatusInfo status = client.RequireStatus(id);
        Assert.Equal(TaskState.Cancelled, status.State);
        Assert.Equal(attempts, status.Attempt);
        Assert.NotNull(status.FinishedAt);
        Assert.Equal("-CANCELLED\r\n", client.Call("RESULT", id));
        Assert.Equal("-CANCELLED\r\n", client.Result(id, 1000)); // finished: answers at once
        Assert.Equal(":0\r\n", client.Call("CANCEL", id));
        Assert.Equal(":1\r\n", client.Call("WAIT", "0", id));
        return status;
    }
}

internal static class TimeSpanMs
{
    /// <summary>Whole milliseconds.</summary>
    public static long WholeMs(this TimeSpan span) => (long)span.TotalMilliseconds;
}
