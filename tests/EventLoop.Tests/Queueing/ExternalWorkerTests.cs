using System.Diagnostics;
using EventLoop.Client;
using EventLoop.Tests.Server;
using Xunit;

namespace EventLoop.Tests.Queueing;

/// <summary>External workers over real sockets: leases, fencing by attempt, requeue on close and expiry, poison tasks.</summary>
public class ExternalWorkerTests
{
    internal static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    internal static async Task<EventLoopClient> ConnectAsync(TestServer server) => await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);

    internal static async Task<string> SubmitAsync(EventLoopClient client, params string[] words)
    {
        RespValue reply = await client.ExecuteAsync(["SUBMIT", .. words]);
        Assert.False(reply.IsError, reply.Text);
        return reply.Text!;
    }

    internal static async Task<Dictionary<string, RespValue>> StatusAsync(EventLoopClient client, string id)
    {
        RespValue reply = await client.ExecuteAsync("STATUS", id);
        var fields = new Dictionary<string, RespValue>();
        for (int i = 0; i < reply.Elements.Count; i += 2)
            fields[reply.Elements[i].Text!] = reply.Elements[i + 1];
        return fields;
    }

    internal static async Task<string> InfoValueAsync(EventLoopClient client, string section, string key)
    {
        string info = await client.InfoAsync(section);
        return info.Split("\r\n").Single(line => line.StartsWith(key + ":", StringComparison.Ordinal))[(key.Length + 1)..];
    }

    [Fact]
    public async Task Fetch_leases_tasks_with_their_attempt_and_arguments_highest_priority_first_across_queues()
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await ConnectAsync(server);
        string low = await SubmitAsync(client, "resize", "QUEUE", "a", "ARGS", "x", "y");
        string high = await SubmitAsync(client, "resize", "QUEUE", "b", "PRIORITY", "7", "ARGS", "z");

        IReadOnlyList<FetchedTask> fetched = await client.FetchAsync(["a", "b"], count: 5);
        Assert.Equal([high, low], fetched.Select(t => t.Id));
        Assert.All(fetched, t => Assert.Equal(1, t.Attempt));
        Assert.Equal(["x", "y"], fetched[1].Arguments.Select(a => System.Text.Encoding.UTF8.GetString(a.Span)));
        Assert.Equal("running", (await StatusAsync(client, low))["state"].Text);
        Assert.Empty(await client.FetchAsync(["a", "b"]));
    }

    [Fact]
    public async Task The_attempt_fences_every_answer_and_any_connection_may_settle_a_delivery_it_names()
    {
        await using var server = new TestServer();
        await using EventLoopClient worker = await ConnectAsync(server);
        await using EventLoopClient pool = await ConnectAsync(server);
        string id = await SubmitAsync(worker, "resize");
        FetchedTask task = (await worker.FetchAsync(["default"])).Single();

        FetchedTask wrongAttempt = task with { Attempt = 2 };
        FetchedTask unknown = task with { Id = "12345" };
        Assert.Equal(DeliveryOutcome.Stale, await pool.AckAsync(wrongAttempt, "no"u8.ToArray()));
        Assert.Equal(DeliveryOutcome.Stale, await pool.FailAsync(unknown, "no"));
        Assert.Equal(DeliveryOutcome.Stale, await pool.TouchAsync(wrongAttempt));
        Assert.Equal("running", (await StatusAsync(pool, id))["state"].Text); // nothing changed

        Assert.Equal(DeliveryOutcome.Accepted, await pool.AckAsync(task, "done"u8.ToArray()));
        Assert.Equal(DeliveryOutcome.Stale, await worker.AckAsync(task, "again"u8.ToArray())); // a second ACK
        Assert.Equal("done", (await pool.ExecuteAsync("RESULT", id)).Text);
        Assert.Equal("4", await InfoValueAsync(pool, "workers", "external_stale_refused")); // three wrong names and the second ACK
    }

    [Fact]
    public async Task A_batch_of_acks_settles_each_delivery_on_its_own_merits()
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await ConnectAsync(server);
        string[] ids = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => SubmitAsync(client, "resize", "ARGS", $"{i}")));
        IReadOnlyList<FetchedTask> fetched = await client.FetchAsync(["default"], count: 10);
        List<(FetchedTask, ReadOnlyMemory<byte>)> acks = [.. fetched.Select(t => (t, (ReadOnlyMemory<byte>)t.Arguments[0].ToArray()))];
        acks[3] = (fetched[3] with { Attempt = 9 }, ReadOnlyMemory<byte>.Empty);

        DeliveryOutcome[] outcomes = await client.AckManyAsync(acks);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => i == 3 ? DeliveryOutcome.Stale : DeliveryOutcome.Accepted), outcomes);
        Assert.Equal("7", (await client.ExecuteAsync("RESULT", ids[7])).Text);
        Assert.Equal("running", (await StatusAsync(client, ids[3]))["state"].Text);
    }

    [Fact]
    public async Task A_worker_killed_holding_a_hundred_tasks_returns_them_all_at_once_without_using_a_retry()
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await ConnectAsync(server);
        string[] ids = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => SubmitAsync(client, "crashy", "RETRIES", "0")));
        // A real worker process: fetches a hundred and is SIGKILLed while holding them.
        string fetch = System.Text.Encoding.ASCII.GetString(RawConnection.Encode("FETCH", "COUNT", "100", "LEASE", "600000", "FROM", "default"));
        using Process worker = Process.Start(new ProcessStartInfo("python3", ["-c", $$"""
            import socket, time
            s = socket.create_connection(("127.0.0.1", {{server.Port}}))
            s.sendall({{System.Text.Json.JsonSerializer.Serialize(fetch)}}.encode())
            s.recv(1 << 20)
            print("holding", flush=True)
            time.sleep(60)
            """]) { RedirectStandardOutput = true })!;
        Assert.Equal("holding", await worker.StandardOutput.ReadLineAsync().WaitAsync(Patience));
        await WaitForAsync(async () => await InfoValueAsync(client, "workers", "external_leased_tasks") == "100");

        worker.Kill();
        await worker.WaitForExitAsync();
        await WaitForAsync(async () => await InfoValueAsync(client, "workers", "external_leased_tasks") == "0");

        foreach (string id in ids)
        {
            Dictionary<string, RespValue> status = await StatusAsync(client, id);
            Assert.Equal("queued", status["state"].Text);
            Assert.Equal("lease lost: the worker's connection closed", status["error"].Text);
        }
        IReadOnlyList<FetchedTask> again = await client.FetchAsync(["default"], count: 200);
        Assert.Equal(ids.Order(), again.Select(t => t.Id).Order()); // none lost, none handed out twice
        Assert.All(again, t => Assert.Equal(2, t.Attempt));
        foreach (FetchedTask task in again)
            Assert.Equal(DeliveryOutcome.Accepted, await client.AckAsync(task, "ok"u8.ToArray()));
        Assert.Equal("100", await InfoValueAsync(client, "workers", "external_requeued_on_close"));
    }

    [Fact]
    public async Task A_task_that_kills_every_worker_fails_after_max_lease_losses_and_waits_in_the_dead_set()
    {
        await using var server = new TestServer(new ServerOptions { MaxLeaseLosses = 3 });
        await using EventLoopClient client = await ConnectAsync(server);
        string id = await SubmitAsync(client, "poison", "RETRIES", "5");
        for (int attempt = 1; attempt <= 3; attempt++)
        {
            await using EventLoopClient doomed = await ConnectAsync(server);
            Assert.Equal(attempt, (await doomed.FetchAsync(["default"])).Single().Attempt);
        } // each worker "dies": its connection closes with the lease

        await WaitForAsync(async () => (await StatusAsync(client, id))["state"].Text == "failed");
        Assert.Equal("lease lost 3 times", (await StatusAsync(client, id))["error"].Text);
        Assert.Equal(id, (await client.ExecuteAsync("DEAD", "LIST")).Elements.Single().Text);
    }

    [Fact]
    public async Task A_worker_that_stops_answering_loses_its_lease_and_its_late_ack_is_refused()
    {
        await using var server = new TestServer();
        await using EventLoopClient stuck = await ConnectAsync(server);
        await using EventLoopClient healthy = await ConnectAsync(server);
        string id = await SubmitAsync(stuck, "resize");
        FetchedTask first = (await stuck.FetchAsync(["default"], lease: TimeSpan.FromMilliseconds(200))).Single();

        FetchedTask second = (await healthy.FetchAsync(["default"], block: Patience)).Single(); // after the expiry
        Assert.Equal(2, second.Attempt);
        Assert.Equal(DeliveryOutcome.Stale, await stuck.AckAsync(first, "late"u8.ToArray()));
        Assert.Equal(DeliveryOutcome.Accepted, await healthy.AckAsync(second, "fresh"u8.ToArray()));
        Assert.Equal("fresh", (await healthy.ExecuteAsync("RESULT", id)).Text);
        Assert.Equal("1", await InfoValueAsync(healthy, "workers", "external_lease_expiries"));
    }

    [Fact]
    public async Task Leases_of_different_lengths_on_one_connection_each_run_out_at_their_own_time()
    {
        await using var server = new TestServer();
        await using EventLoopClient worker = await ConnectAsync(server);
        await using EventLoopClient other = await ConnectAsync(server);
        string shortId = await SubmitAsync(worker, "resize", "QUEUE", "short");
        string longId = await SubmitAsync(worker, "resize", "QUEUE", "long");
        string touchedId = await SubmitAsync(worker, "resize", "QUEUE", "touched");
        FetchedTask shortLease = (await worker.FetchAsync(["short"], lease: TimeSpan.FromMilliseconds(200))).Single();
        FetchedTask longLease = (await worker.FetchAsync(["long"], lease: TimeSpan.FromMinutes(5))).Single();
        FetchedTask touched = (await worker.FetchAsync(["touched"], lease: TimeSpan.FromMinutes(5))).Single();
        Assert.Equal(DeliveryOutcome.Accepted, await worker.TouchAsync(touched, TimeSpan.FromMilliseconds(200)));

        FetchedTask[] again = [(await other.FetchAsync(["short"], block: Patience)).Single(), (await other.FetchAsync(["touched"], block: Patience)).Single()];
        Assert.Equal([shortId, touchedId], again.Select(t => t.Id));
        Assert.All(again, t => Assert.Equal(2, t.Attempt));
        Assert.Equal(DeliveryOutcome.Stale, await worker.AckAsync(shortLease, "late"u8.ToArray()));
        Assert.Equal(DeliveryOutcome.Accepted, await worker.AckAsync(longLease, "kept"u8.ToArray()));
        Assert.Equal("kept", (await worker.ExecuteAsync("RESULT", longId)).Text);
        Assert.Equal("2", await InfoValueAsync(worker, "workers", "external_lease_expiries"));
    }

    [Fact]
    public async Task Fetch_frames_named_ids_empty_large_and_many_arguments_exactly()
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await ConnectAsync(server);
        string large = new('L', 100_000);
        string[] many = [.. Enumerable.Range(0, 300).Select(i => $"a{i}")];
        string plain = await SubmitAsync(client, "resize", "QUEUE", "framing", "ARGS", "", large, "é");
        string wide = await SubmitAsync(client, ["resize", "QUEUE", "framing", "ARGS", .. many]);
        Assert.False((await client.ExecuteAsync("SCHEDULE", "ADD", "nightly", "EVERY", "100", "report", "QUEUE", "fired", "ARGS", "x")).IsError);

        IReadOnlyList<FetchedTask> fetched = await client.FetchAsync(["framing"], count: 10);
        Assert.Equal([plain, wide], fetched.Select(t => t.Id));
        Assert.Equal(["", large, "é"], fetched[0].Arguments.Select(a => System.Text.Encoding.UTF8.GetString(a.Span)));
        Assert.Equal(many, fetched[1].Arguments.Select(a => System.Text.Encoding.UTF8.GetString(a.Span)));
        FetchedTask firing = (await client.FetchAsync(["fired"], block: Patience)).Single();
        Assert.StartsWith("nightly@", firing.Id);
        Assert.Equal("report", firing.Task);
        Assert.Equal(DeliveryOutcome.Accepted, await client.AckAsync(firing, "done"u8.ToArray()));
    }

    [Fact]
    public async Task A_blocked_fetch_is_woken_by_a_submit_oldest_fetcher_first_and_costs_no_thread()
    {
        await using var server = new TestServer();
        await using EventLoopClient producer = await ConnectAsync(server);
        await using EventLoopClient older = await ConnectAsync(server);
        await using EventLoopClient newer = await ConnectAsync(server);
        Task<IReadOnlyList<FetchedTask>> first = older.FetchAsync(["jobs"], block: Patience);
        await WaitForAsync(async () => await InfoValueAsync(producer, "workers", "external_blocked_fetchers") == "1");
        Task<IReadOnlyList<FetchedTask>> second = newer.FetchAsync(["jobs", "other"], block: Patience);
        await WaitForAsync(async () => await InfoValueAsync(producer, "workers", "external_blocked_fetchers") == "2");

        string id = await SubmitAsync(producer, "resize", "QUEUE", "jobs");
        Assert.Equal(id, (await first.WaitAsync(Patience)).Single().Id);
        Assert.False(second.IsCompleted);
        string other = await SubmitAsync(producer, "resize", "QUEUE", "other");
        Assert.Equal(other, (await second.WaitAsync(Patience)).Single().Id);
        Assert.Equal("0", await InfoValueAsync(producer, "workers", "external_blocked_fetchers"));
    }

    [Fact]
    public async Task A_blocked_fetch_answers_an_empty_array_when_its_time_is_up_and_later_requests_follow_it()
    {
        await using var server = new TestServer();
        using RawConnection raw = server.Connect();
        raw.Send([.. RawConnection.Encode("FETCH", "BLOCK", "200", "FROM", "nothing"), .. RawConnection.Encode("PING")]);
        Assert.Equal("*0\r\n", raw.ReadString(4, Patience));
        Assert.Equal("+PONG\r\n", raw.ReadString(7, Patience));
    }

    [Fact]
    public async Task Fetch_from_a_thousand_queues_takes_from_whichever_has_work()
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await ConnectAsync(server);
        string[] queues = [.. Enumerable.Range(0, 1000).Select(i => $"q{i}")];
        string id = await SubmitAsync(client, "resize", "QUEUE", "q777");
        Assert.Equal(id, (await client.FetchAsync(queues, count: 10)).Single().Id);
    }

    [Theory]
    [InlineData(new[] { "FETCH", "COUNT", "0", "FROM", "q" }, "ERR COUNT must be a positive integer")]
    [InlineData(new[] { "FETCH", "LEASE", "-5", "FROM", "q" }, "ERR LEASE must be a positive integer")]
    [InlineData(new[] { "FETCH", "BLOCK", "x", "FROM", "q" }, "ERR BLOCK must be a non-negative integer")]
    [InlineData(new[] { "FETCH", "COUNT", "1", "COUNT", "2", "FROM", "q" }, "ERR option 'COUNT' given twice")]
    [InlineData(new[] { "FETCH", "q" }, "ERR unknown option 'q'")]
    [InlineData(new[] { "FETCH", "COUNT", "2" }, "ERR syntax error: FROM expected")]
    [InlineData(new[] { "FETCH", "FROM" }, "ERR syntax error: a queue name expected after FROM")]
    [InlineData(new[] { "ACK", "1", "zero" }, "ERR attempt must be a positive integer")]
    [InlineData(new[] { "ACK", "1" }, "ERR wrong number of arguments for 'ack' command")]
    [InlineData(new[] { "NACK", "1", "1", "LATER", "5" }, "ERR unknown option 'LATER'")]
    [InlineData(new[] { "TOUCH", "1", "1", "LEASE", "0" }, "ERR LEASE must be a positive integer")]
    [InlineData(new[] { "FAIL", "1", "1", "boom", "NEVER" }, "ERR unknown option 'NEVER'")]
    public async Task Malformed_worker_commands_are_named_and_change_nothing(string[] command, string error)
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await ConnectAsync(server);
        string id = await SubmitAsync(client, "resize", "QUEUE", "q");
        RespValue reply = await client.ExecuteAsync(command);
        Assert.True(reply.IsError);
        Assert.Equal(error, reply.Text);
        Assert.Equal("queued", (await StatusAsync(client, id))["state"].Text);
    }

    [Fact]
    public async Task An_ack_with_a_result_over_max_result_bytes_fails_the_attempt()
    {
        await using var server = new TestServer(new ServerOptions { MaxResultBytes = 10 });
        await using EventLoopClient client = await ConnectAsync(server);
        string id = await SubmitAsync(client, "resize");
        FetchedTask task = (await client.FetchAsync(["default"])).Single();
        var refused = await Assert.ThrowsAsync<RespErrorException>(() => client.AckAsync(task, new byte[11]));
        Assert.Equal("ERR result of 11 bytes exceeds max-result-bytes (10): the attempt failed", refused.Message);
        Assert.Equal("FAILED result of 11 bytes exceeds max-result-bytes (10)", (await client.ExecuteAsync("RESULT", id)).Text);
    }

    [Fact]
    public async Task Nack_returns_a_task_without_a_failure_and_touch_renews_until_cancel()
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await ConnectAsync(server);
        string id = await SubmitAsync(client, "resize", "RETRIES", "0");
        FetchedTask first = (await client.FetchAsync(["default"])).Single();
        Assert.Equal(DeliveryOutcome.Accepted, await client.NackAsync(first));
        FetchedTask second = (await client.FetchAsync(["default"])).Single();
        Assert.Equal(2, second.Attempt);
        Assert.Equal(DeliveryOutcome.Accepted, await client.TouchAsync(second, TimeSpan.FromSeconds(5)));

        Assert.Equal(1, (await client.ExecuteAsync("CANCEL", id)).IntegerValue);
        Assert.Equal(DeliveryOutcome.Cancelled, await client.TouchAsync(second));
        Assert.Equal(DeliveryOutcome.Cancelled, await client.AckAsync(second, "too late"u8.ToArray()));
        Assert.Equal("CANCELLED", (await client.ExecuteAsync("RESULT", id)).Text);
    }

    [Fact]
    public async Task In_process_and_external_tasks_share_a_queue_each_taken_by_its_own_side()
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await ConnectAsync(server);
        string external = await SubmitAsync(client, "resize", "QUEUE", "mixed");
        string local = await SubmitAsync(client, "echo", "QUEUE", "mixed", "ARGS", "here");
        Assert.Equal("here", (await client.ExecuteAsync("RESULT", local, "TIMEOUT", "10000")).Text);
        Assert.Equal(external, (await client.FetchAsync(["mixed"], count: 10)).Single().Id);
    }

    internal static async Task WaitForAsync(Func<Task<bool>> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < Patience, "the condition did not hold within 30 s");
            await Task.Delay(20);
        }
    }
}
