using System.Buffers;
using System.Text;
using EventLoop.Client;
using EventLoop.Tests.Server;
using EventLoop.Tests.Support;
using static EventLoop.Tests.Queueing.QueueKit;

namespace EventLoop.Tests.Queueing;

/// <summary>The .NET client's task-queue methods against a real server, and redis-cli doing the same by hand.</summary>
public sealed class ClientQueueTests : IAsyncLifetime
{
    private readonly Gate _gate = new();
    private TestServer _server = null!;
    private EventLoopClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = new TestServer(registerTasks: server => server.Tasks.Register("gate", async (_, result, cancel) =>
        {
            await _gate.PassAsync(cancel);
            result.Write("opened"u8);
        }));
        _client = await EventLoopClient.ConnectAsync("127.0.0.1", _server.Port);
    }

    public async Task DisposeAsync()
    {
        _gate.Open();
        await _client.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Submit_with_options_then_status_maps_every_field()
    {
        DateTimeOffset before = DateTimeOffset.UtcNow.AddSeconds(-1);
        await _client.PauseQueueAsync("client-q");
        string id = await _client.SubmitAsync("echo", new SubmitOptions
        {
            Queue = "client-q", Priority = 7, Retries = 2, Backoff = TimeSpan.FromMilliseconds(10), Timeout = TimeSpan.FromSeconds(5),
            Key = "client-key", ResultTtl = TimeSpan.FromSeconds(60),
        }, "hello");
        Assert.Equal(id, await _client.SubmitAsync("echo", new SubmitOptions { Key = "client-key" }, "again"));
        TaskStatusInfo status = (await _client.StatusAsync(id))!;
        Assert.Equal((id, "echo", "client-q", TaskState.Queued, 0L, 7), (status.Id, status.Task, status.Queue, status.State, status.Attempt, status.Priority));
        Assert.InRange(status.CreatedAt!.Value, before, DateTimeOffset.UtcNow.AddSeconds(1));
        Assert.NotNull(status.RunAt);
        Assert.Null(status.StartedAt);
        Assert.Null(status.FinishedAt);
        Assert.Null(status.Error);
        Assert.False(status.IsFinished);
        await _client.ResumeQueueAsync("client-q");
        Assert.Equal("hello"u8.ToArray(), await _client.ResultAsync(id, TimeSpan.FromSeconds(20)));
        TaskStatusInfo done = (await _client.StatusAsync(id))!;
        Assert.Equal((TaskState.Succeeded, 1L), (done.State, done.Attempt));
        Assert.True(done.IsFinished);
        Assert.True(done.FinishedAt >= done.StartedAt);
        Assert.Null(await _client.StatusAsync("no-such-id"));
    }

    [Fact]
    public async Task Submit_binary_arguments_and_delay_and_at()
    {
        byte[] payload = [0, 13, 10, 255];
        string id = await _client.SubmitAsync("echo", null, new ReadOnlyMemory<byte>[] { payload });
        Assert.Equal(payload, await _client.ResultAsync(id, TimeSpan.FromSeconds(20)));
        string delayed = await _client.SubmitAsync("echo", new SubmitOptions { Delay = TimeSpan.FromMinutes(1) }, "x");
        TaskStatusInfo status = (await _client.StatusAsync(delayed))!;
        Assert.Equal(TaskState.Scheduled, status.State);
        Assert.InRange((status.RunAt!.Value - status.CreatedAt!.Value).TotalMilliseconds, 59_990, 60_010);
        DateTimeOffset at = DateTimeOffset.UtcNow.AddHours(1);
        string atId = await _client.SubmitAsync("echo", new SubmitOptions { At = at }, "x");
        Assert.Equal(at.ToUnixTimeMilliseconds(), (await _client.StatusAsync(atId))!.RunAt!.Value.ToUnixTimeMilliseconds());
        string noArgs = await _client.SubmitAsync("echo");
        Assert.Equal("expects 1 argument, got 0", (await Assert.ThrowsAsync<TaskFailedException>(() => _client.ResultAsync(noArgs, TimeSpan.FromSeconds(20)))).Error);
        Assert.Throws<ArgumentException>(() => { _ = _client.SubmitAsync("echo", new SubmitOptions { Delay = TimeSpan.FromSeconds(1), At = at }); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = _client.SubmitAsync("echo", new SubmitOptions { Priority = 10 }); });
    }

    [Fact]
    public async Task Result_throws_a_typed_exception_for_each_outcome()
    {
        string failed = await _client.SubmitAsync("fail", null, "bad input");
        TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => _client.ResultAsync(failed, TimeSpan.FromSeconds(20)));
        Assert.Equal(("bad input", failed), (failure.Error, failure.Id));

        string later = await _client.SubmitAsync("echo", new SubmitOptions { Delay = TimeSpan.FromHours(1) }, "x");
        Assert.Equal(TaskState.Scheduled, (await Assert.ThrowsAsync<TaskPendingException>(() => _client.ResultAsync(later))).State);
        Assert.Equal(TaskState.Scheduled, (await Assert.ThrowsAsync<TaskPendingException>(() => _client.ResultAsync(later, TimeSpan.FromMilliseconds(50)))).State);
        Assert.Equal(CancelOutcome.Cancelled, await _client.CancelAsync(later));
        await Assert.ThrowsAsync<TaskCancelledException>(() => _client.ResultAsync(later));
        Assert.Equal(CancelOutcome.AlreadyFinished, await _client.CancelAsync(later));
        Assert.Equal(CancelOutcome.NotFound, await _client.CancelAsync("no-such-id"));
        Assert.Equal("no-such-id", (await Assert.ThrowsAsync<TaskNotFoundException>(() => _client.ResultAsync("no-such-id"))).Id);
        await Assert.ThrowsAnyAsync<TaskResultException>(() => _client.ResultAsync(failed));
        Assert.Equal("PONG", await _client.PingAsync()); // still in step
    }

    [Fact]
    public async Task A_parked_result_keeps_later_calls_behind_it_and_cancel_of_a_running_task()
    {
        string gated = await _client.SubmitAsync("gate");
        await using EventLoopClient other = await EventLoopClient.ConnectAsync("127.0.0.1", _server.Port);
        Task<byte[]> result = _client.ResultAsync(gated, TimeSpan.Zero); // no limit
        Task<string> ping = _client.PingAsync();
        while ((await other.StatusAsync(gated))!.State != TaskState.Running)
            await Task.Delay(10);
        await Task.Delay(50);
        Assert.False(ping.IsCompleted);
        _gate.Open();
        Assert.Equal("opened"u8.ToArray(), await result.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal("PONG", await ping.WaitAsync(TimeSpan.FromSeconds(20)));

        string sleeping = await _client.SubmitAsync("sleep", null, "60000");
        while ((await _client.StatusAsync(sleeping))!.State != TaskState.Running)
            await Task.Delay(10);
        Assert.Equal(CancelOutcome.Cancelled, await _client.CancelAsync(sleeping));
        await Assert.ThrowsAsync<TaskCancelledException>(() => _client.ResultAsync(sleeping, TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task Wait_counts_finished_tasks()
    {
        string[] ids = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => _client.SubmitAsync("echo", null, $"{i}")));
        Assert.Equal(50, await _client.WaitAsync(TimeSpan.FromSeconds(30), ids));
        string later = await _client.SubmitAsync("echo", new SubmitOptions { Delay = TimeSpan.FromHours(1) }, "x");
        Assert.Equal(1, await _client.WaitAsync(TimeSpan.FromMilliseconds(100), ids[0], later, "unknown"));
        await _client.CancelAsync(later);
        Assert.Equal(2, await _client.WaitAsync(Timeout.InfiniteTimeSpan, ids[0], later));
        await Assert.ThrowsAsync<ArgumentException>(() => _client.WaitAsync(TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public async Task Schedules_are_added_listed_and_removed()
    {
        await _client.ScheduleAsync("every", TimeSpan.FromMilliseconds(100), "echo", new SubmitOptions { Queue = "sched-client" }, "tick");
        await _client.ScheduleAsync("nightly", "0 3 * * *", "Europe/Paris", "echo", null, "night");
        await _client.ScheduleAsync("utc", "30 4 * * 1", null, "echo", new SubmitOptions { Priority = 2 }, "monday");
        IReadOnlyList<ScheduleInfo> list = await _client.ListSchedulesAsync();
        Assert.Equal(["every", "nightly", "utc"], list.Select(s => s.Name));
        Assert.Equal(["EVERY 100", "CRON 0 3 * * * TZ Europe/Paris", "CRON 30 4 * * 1"], list.Select(s => s.Spec));
        Assert.All(list, s => Assert.Equal("echo", s.Task));
        Assert.Equal(0, list[0].NextFireAt.ToUnixTimeMilliseconds() % 100);
        string fired = $"every@{list[0].NextFireAt.ToUnixTimeMilliseconds()}";
        TaskStatusInfo? status = null;
        for (var clock = System.Diagnostics.Stopwatch.StartNew(); status is null && clock.Elapsed < Patience; await Task.Delay(20))
            status = await _client.StatusAsync(fired);
        Assert.Equal("sched-client", status!.Queue);
        Assert.Equal("tick"u8.ToArray(), await _client.ResultAsync(fired, TimeSpan.FromSeconds(20)));
        Assert.True(await _client.UnscheduleAsync("every"));
        Assert.False(await _client.UnscheduleAsync("every"));
        Assert.Equal(2, (await _client.ListSchedulesAsync()).Count);
        await Assert.ThrowsAsync<RespErrorException>(() => _client.ScheduleAsync("bad", "not cron", null, "echo"));
        Assert.Throws<ArgumentException>(() => { _ = _client.ScheduleAsync("k", TimeSpan.FromSeconds(1), "echo", new SubmitOptions { Key = "k" }); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = _client.ScheduleAsync("z", TimeSpan.Zero, "echo"); });
    }

    [Fact]
    public async Task Queues_pause_resume_and_the_dead_set()
    {
        await _client.PauseQueueAsync("client-dead");
        string id = await _client.SubmitAsync("fail", new SubmitOptions { Queue = "client-dead" }, "why");
        QueueInfo paused = (await _client.QueuesAsync()).Single(q => q.Name == "client-dead");
        Assert.Equal((1L, 0L, 0L, true), (paused.Queued, paused.Running, paused.Scheduled, paused.Paused));
        await _client.ResumeQueueAsync("client-dead");
        Assert.Equal(1, await _client.WaitAsync(TimeSpan.FromSeconds(30), id));
        Assert.False((await _client.QueuesAsync()).Single(q => q.Name == "client-dead").Paused);
        Assert.Equal([id], await _client.DeadListAsync("client-dead"));
        Assert.Equal([id], await _client.DeadListAsync("client-dead", 1));
        Assert.Contains(id, await _client.DeadListAsync());
        await _client.PauseQueueAsync("client-dead"); // so the retried task waits instead of failing again at once
        Assert.True(await _client.DeadRetryAsync(id));
        Assert.False(await _client.DeadRetryAsync(id));
        Assert.Equal(TaskState.Queued, (await _client.StatusAsync(id))!.State);
        await _client.ResumeQueueAsync("client-dead");
        Assert.Equal("why", (await Assert.ThrowsAsync<TaskFailedException>(() => _client.ResultAsync(id, TimeSpan.FromSeconds(20)))).Error);
        Assert.True(await _client.DeadDropAsync(id));
        Assert.False(await _client.DeadDropAsync(id));
        Assert.Null(await _client.StatusAsync(id));
        Assert.Empty(await _client.DeadListAsync("client-dead"));
    }

    [Fact]
    public async Task Server_errors_surface_as_resp_errors()
    {
        await using var full = new TestServer(new ServerOptions { MaxTasks = 1 });
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", full.Port);
        await client.SubmitAsync("echo", new SubmitOptions { Delay = TimeSpan.FromHours(1) }, "x");
        RespErrorException error = await Assert.ThrowsAsync<RespErrorException>(() => client.SubmitAsync("echo", null, "x"));
        Assert.Equal(("FULL", "FULL max-tasks (1) reached"), (error.Prefix, error.Message));
        error = await Assert.ThrowsAsync<RespErrorException>(() => client.SubmitAsync("echo", new SubmitOptions { Queue = "a b" }, "x"));
        Assert.Equal("ERR QUEUE must be 1 to 128 printable characters without spaces", error.Message);
    }

    [Fact]
    public void Redis_cli_submits_reads_status_and_result_by_hand()
    {
        ExternalProcess.Result Cli(params string[] args) => ExternalProcess.Run("redis-cli", ["-p", _server.Port.ToString(), .. args]);
        string id = Cli("SUBMIT", "echo", "ARGS", "by hand").Output.TrimEnd('\n');
        Assert.Matches("^[0-9]+$", id);
        Assert.Equal("by hand\n", Cli("RESULT", id, "TIMEOUT", "10000").Output);
        string[] status = Cli("STATUS", id).Output[..^1].Split('\n'); // the last line is the empty error
        Assert.Equal(22, status.Length);
        Assert.Equal(["id", id, "task", "echo", "queue", "default", "state", "succeeded", "attempt", "1", "priority", "0"], status[..12]);
        Assert.Equal(["created_ms", "run_at_ms", "started_ms", "finished_ms", "error"], new[] { 12, 14, 16, 18, 20 }.Select(i => status[i]));
        Assert.Equal("", status[21]);
        Assert.Equal("", Cli("STATUS", "nope").Output.Trim()); // nil prints as an empty line when not a terminal
        ExternalProcess.Result session = ExternalProcess.Run("redis-cli", ["-p", _server.Port.ToString()],
            input: $"CANCEL {id}\nWAIT 1000 {id}\nQUEUE PAUSE cli\nSUBMIT fail QUEUE cli ARGS oops\n");
        string[] lines = session.Output.TrimEnd('\n').Split('\n');
        Assert.Equal(["0", "1", "OK"], lines[..3]);
        Assert.Matches("^[0-9]+$", lines[3]);
        Assert.Equal("", session.Error);
        Assert.Equal("PENDING queued", Cli("RESULT", lines[3]).Output.TrimEnd('\n'));
        Assert.Equal("OK\n", Cli("QUEUE", "RESUME", "cli").Output);
        Assert.Equal("FAILED oops", Cli("RESULT", lines[3], "TIMEOUT", "10000").Output.TrimEnd('\n'));
    }
}
