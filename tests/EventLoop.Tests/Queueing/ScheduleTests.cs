using System.Buffers;
using System.Diagnostics;
using EventLoop.Client;
using EventLoop.Tests.Server;
using static EventLoop.Tests.Queueing.QueueKit;

namespace EventLoop.Tests.Queueing;

/// <summary>SCHEDULE ADD/DEL/LIST (TASKS.md "Periodic tasks"): firings, their ids, EVERY and CRON with TZ.</summary>
[Collection(RunAloneCollection.Name)]
public sealed class ScheduleTests : IAsyncLifetime
{
    private int _ticks;
    private TestServer _server = null!;

    public Task InitializeAsync()
    {
        _server = new TestServer(registerTasks: server => server.Tasks.Register("tick", (_, result) =>
        {
            Interlocked.Increment(ref _ticks);
            result.Write("tick"u8);
        }));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public void Every_100_fires_ten_times_a_second_at_multiples_of_100_with_one_id_per_firing()
    {
        using RawConnection client = _server.Connect();
        long added = NowMs;
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "s", "EVERY", "100", "tick", "ARGS", "x"));
        Thread.Sleep(1050); // the firings are what is measured: the test lets the schedule run for this long
        Assert.Equal(":1\r\n", client.Call("SCHEDULE", "DEL", "s"));
        long removed = NowMs;

        var fired = new List<string>();
        for (long t = added / 100 * 100 - 100; t <= removed + 100; t += 100)
        {
            TaskStatusInfo? status = client.Status($"s@{t}");
            if (status is null)
                continue;
            fired.Add(status.Id);
            Assert.Equal("tick", status.Task);
            Assert.InRange(status.CreatedAt!.Value.ToUnixTimeMilliseconds(), t - 50, t + 5_000);
        }
        long expected = removed / 100 - added / 100; // multiples of 100 between ADD and DEL
        // A stalled machine may coalesce late firings (a missed firing runs once), hence a little room below.
        Assert.True(fired.Count >= expected - 3 && fired.Count <= expected + 1,
            $"{fired.Count} firings between {added} and {removed}, expected about {expected}: {string.Join(", ", fired)}");
        client.WaitAll([.. fired]);
        Assert.Equal(fired.Count, Volatile.Read(ref _ticks)); // each fire time ran once: no id fired twice
        foreach (string id in fired)
            Assert.Equal(Bulk("tick"), client.Call("RESULT", id));
        Assert.Equal("*0\r\n", client.Call("SCHEDULE", "LIST"));
        // Deleted: no more firings. Let 300 ms pass (a delayed task waits them out), then look for any.
        string marker = client.Submit("echo", "DELAY", "300", "ARGS", "m");
        client.WaitAll(marker);
        for (long t = (removed / 100 + 1) * 100; t <= NowMs; t += 100)
            AssertNil(client.Call("STATUS", $"s@{t}"), $"s@{t} fired after SCHEDULE DEL");
        Assert.Equal(fired.Count, Volatile.Read(ref _ticks));
    }

    [Fact]
    public void Replacing_a_schedule_again_and_again_never_fires_a_time_twice()
    {
        using RawConnection client = _server.Connect();
        long added = NowMs;
        for (int round = 0; round < 8; round++)
        {
            for (int i = 0; i < 5; i++)
                Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "again", "EVERY", "100", "tick"));
            client.WaitAll(client.Submit("echo", "DELAY", "100", "ARGS", "pause")); // let about one period pass
        }
        Assert.Equal(":1\r\n", client.Call("SCHEDULE", "DEL", "again"));
        long removed = NowMs;
        var fired = new List<string>();
        for (long t = added / 100 * 100 - 100; t <= removed + 100; t += 100)
            if (client.Status($"again@{t}") is { } status)
                fired.Add(status.Id);
        Assert.NotEmpty(fired);
        client.WaitAll([.. fired]);
        Assert.Equal(fired.Count, Volatile.Read(ref _ticks)); // one run per fire time, however often it was replaced
    }

    [Fact]
    public void Schedule_list_shows_name_spec_task_and_next_fire_sorted_by_name_and_add_replaces()
    {
        using RawConnection client = _server.Connect();
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "zeta", "EVERY", "60000", "echo", "ARGS", "z"));
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "alpha", "CRON", "0 3 * * *", "echo", "ARGS", "a"));
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "paris", "CRON", "0 3 * * *", "TZ", "Europe/Paris", "echo", "QUEUE", "night", "ARGS", "p"));
        long now = NowMs;
        List<RespValue> rows = [.. Parse(client.Call("SCHEDULE", "LIST")).Elements];
        Assert.Equal(["alpha", "paris", "zeta"], rows.Select(r => r.Elements[0].Text));
        Assert.All(rows, r => Assert.Equal(4, r.Elements.Count));
        Assert.All(rows, r => Assert.Equal(RespKind.Integer, r.Elements[3].Kind));
        Assert.Equal(["CRON 0 3 * * *", "CRON 0 3 * * * TZ Europe/Paris", "EVERY 60000"], rows.Select(r => r.Elements[1].Text));
        Assert.All(rows, r => Assert.Equal("echo", r.Elements[2].Text));

        long everyNext = rows[2].Elements[3].IntegerValue;
        Assert.Equal(0, everyNext % 60_000);
        Assert.InRange(everyNext, now - 1000, now + 60_000);
        Assert.Equal(NextLocal(now, TimeZoneInfo.Utc, 3), rows[0].Elements[3].IntegerValue);
        Assert.Equal(NextLocal(now, TimeZoneInfo.FindSystemTimeZoneById("Europe/Paris"), 3), rows[1].Elements[3].IntegerValue);

        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "zeta", "EVERY", "250", "tick"));
        RespValue replaced = Parse(client.Call("SCHEDULE", "LIST")).Elements[2];
        Assert.Equal(["zeta", "EVERY 250", "tick"], replaced.Elements.Take(3).Select(e => e.Text));
        Assert.Equal(0, replaced.Elements[3].IntegerValue % 250);
        Assert.Equal(3, client.InfoNumber("schedules"));

        Assert.Equal(":1\r\n", client.Call("SCHEDULE", "DEL", "zeta"));
        Assert.Equal(":0\r\n", client.Call("SCHEDULE", "DEL", "zeta"));
        Assert.Equal(":0\r\n", client.Call("SCHEDULE", "DEL", "never-added"));
        Assert.Equal(2, Parse(client.Call("SCHEDULE", "LIST")).Elements.Count);
    }

    [Fact]
    public void A_six_field_cron_fires_each_second_with_the_ids_of_whole_seconds_and_its_options()
    {
        using RawConnection client = _server.Connect();
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "sec", "CRON", "* * * * * *", "TZ", "America/New_York", "tick",
            "QUEUE", "cronq", "PRIORITY", "7"));
        long next = Parse(client.Call("SCHEDULE", "LIST")).Elements[0].Elements[3].IntegerValue;
        Assert.Equal(0, next % 1000);
        string id = $"sec@{next}";
        TaskStatusInfo status = client.PollStatus(id, s => s is not null, "fired")!;
        Assert.Equal(("tick", "cronq", 7), (status.Task, status.Queue, status.Priority));
        Assert.Equal(Bulk("tick"), client.Result(id, 10_000));
        client.PollStatus($"sec@{next + 1000}", s => s is not null, "fired again a second later");
        client.Call("SCHEDULE", "DEL", "sec");
    }

    [Fact]
    public void A_schedules_options_reach_its_tasks()
    {
        using RawConnection client = _server.Connect();
        client.Call("QUEUE", "PAUSE", "sched-paused");
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "opts", "EVERY", "100", "fail", "QUEUE", "sched-paused",
            "PRIORITY", "2", "RETRIES", "4", "BACKOFF", "10", "TIMEOUT", "5000", "RESULT-TTL", "60", "ARGS", "why"));
        long next = Parse(client.Call("SCHEDULE", "LIST")).Elements[0].Elements[3].IntegerValue;
        TaskStatusInfo status = client.PollStatus($"opts@{next}", s => s is not null, "fired")!;
        client.Call("SCHEDULE", "DEL", "opts");
        Assert.Equal(("fail", "sched-paused", 2, TaskState.Queued), (status.Task, status.Queue, status.Priority, status.State));
        client.Call("QUEUE", "RESUME", "sched-paused");
        Assert.Equal("-FAILED why\r\n", client.Result(status.Id, 20_000));
        Assert.Equal(5, client.RequireStatus(status.Id).Attempt); // RETRIES 4: five attempts
    }

    /// <summary>The next instant after <paramref name="nowMs"/> that is <paramref name="hour"/>:00 on the wall clock of <paramref name="zone"/>.</summary>
    private static long NextLocal(long nowMs, TimeZoneInfo zone, int hour)
    {
        DateTime local = TimeZoneInfo.ConvertTime(DateTimeOffset.FromUnixTimeMilliseconds(nowMs), zone).DateTime;
        for (DateTime day = local.Date; ; day = day.AddDays(1))
        {
            DateTime candidate = day.AddHours(hour);
            if (zone.IsInvalidTime(candidate))
                continue;
            long ms = new DateTimeOffset(candidate, zone.GetUtcOffset(candidate)).ToUnixTimeMilliseconds();
            if (ms > nowMs)
                return ms;
        }
    }
}
