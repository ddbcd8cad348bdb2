using System.Diagnostics;
using EventLoop.Client;
using EventLoop.Tests.Server;
using EventLoop.Tests.Support;
using static EventLoop.Tests.Queueing.ExternalWorkerTests;

namespace EventLoop.Tests.Queueing;

/// <summary>
/// The external workers' contract (TASKS.md, "External workers") verb by verb: redis-cli driving a delivery by hand,
/// NACK and FAIL fenced by the attempt and by CANCEL, NACK's DELAY, FAIL's NORETRY, an expired lease's requeue, and
/// who counts as a fetcher.
/// </summary>
public class ExternalWorkerContractTests
{
    [Fact]
    public async Task Redis_cli_fetches_acks_and_reads_the_result_by_hand()
    {
        await using var server = new TestServer();
        await using EventLoopClient observer = await ConnectAsync(server);
        string port = server.Port.ToString();
        ExternalProcess.Result Cli(params string[] args) => ExternalProcess.Run("redis-cli", ["-p", port, .. args]);
        string id = Cli("SUBMIT", "resize", "QUEUE", "cli-jobs", "ARGS", "photo.jpg", "800 600").Output.TrimEnd('\n');
        Assert.Matches("^[0-9]+$", id);

        // A one-shot redis-cli closes its connection as it exits, and the lease goes with it: the task is queued again.
        Assert.Equal($"{id}\n1\nresize\nphoto.jpg\n800 600\n", Cli("FETCH", "COUNT", "1", "FROM", "cli-jobs").Output);
        await WaitForAsync(async () => (await StatusAsync(observer, id))["state"].Text == "queued");
        Assert.Equal("lease lost: the worker's connection closed", (await StatusAsync(observer, id))["error"].Text);
        Assert.Equal("STALE", Cli("ACK", id, "1", "too late").Output.TrimEnd('\n'));

        // A redis-cli session that stays connected holds the lease; another redis-cli settles it (any connection may).
        using (var worker = new RedisCliSession(server.Port))
        {
            worker.Send("FETCH COUNT 1 FROM cli-jobs");
            Assert.Equal([id, "2", "resize", "photo.jpg", "800 600"], worker.ReadLines(5));
            Assert.Equal("running", (await StatusAsync(observer, id))["state"].Text);
            Assert.Equal("OK\n", Cli("ACK", id, "2", "resized to 800x600").Output);
            Assert.Equal("resized to 800x600\n", Cli("RESULT", id).Output);
            worker.Send($"ACK {id} 2 again");
            Assert.Equal(["STALE", ""], worker.ReadLines(2)); // redis-cli ends an error with an empty line
            worker.Send("FETCH COUNT 1 FROM cli-jobs");
            worker.Send("PING");
            Assert.Equal(["", "PONG"], worker.ReadLines(2)); // an empty array prints as an empty line
        }
        Dictionary<string, RespValue> status = await StatusAsync(observer, id);
        Assert.Equal(("succeeded", 2), (status["state"].Text, status["attempt"].IntegerValue));
    }

    [Fact]
    public async Task Nack_of_a_wrong_attempt_is_stale_and_changes_nothing()
    {
        await using var server = new TestServer();
        using RawConnection worker = server.Connect();
        await using EventLoopClient client = await ConnectAsync(server);
        string id = await SubmitAsync(client, "resize", "QUEUE", "nack-stale");
        FetchedTask task = (await client.FetchAsync(["nack-stale"])).Single();

        Assert.Equal("-STALE\r\n", worker.Call("NACK", id, "2"));
        Assert.Equal("-STALE\r\n", worker.Call("NACK", id, "2", "DELAY", "10"));
        Assert.Equal("-STALE\r\n", worker.Call("NACK", "12345", "1"));
        Dictionary<string, RespValue> status = await StatusAsync(client, id);
        Assert.Equal(("running", 1), (status["state"].Text, status["attempt"].IntegerValue));
        Assert.Empty(await client.FetchAsync(["nack-stale"])); // not handed back to the queue
        Assert.Equal("1", await InfoValueAsync(client, "workers", "external_leased_tasks"));
        Assert.Equal("3", await InfoValueAsync(client, "workers", "external_stale_refused"));

        Assert.Equal("+OK\r\n", worker.Call("NACK", id, "1")); // the lease was intact all along
        Assert.Equal(2, (await client.FetchAsync(["nack-stale"])).Single().Attempt);
        Assert.Equal(DeliveryOutcome.Stale, await client.AckAsync(task, "old"u8.ToArray()));
    }

    [Fact]
    public async Task Fail_and_nack_of_a_delivery_cancelled_while_leased_answer_cancelled_and_change_nothing()
    {
        await using var server = new TestServer();
        using RawConnection worker = server.Connect();
        await using EventLoopClient client = await ConnectAsync(server);
        string id = await SubmitAsync(client, "resize", "QUEUE", "cancel-leased", "RETRIES", "3");
        worker.SendCommand("FETCH", "FROM", "cancel-leased");
        Assert.Contains(id, worker.ReadReply());

        Assert.Equal(":1\r\n", worker.Call("CANCEL", id)); // it was running and its worker will be told
        Dictionary<string, RespValue> cancelled = await StatusAsync(client, id);
        Assert.Equal(("cancelled", ""), (cancelled["state"].Text, cancelled["error"].Text));
        Assert.Equal("-CANCELLED\r\n", worker.Call("FAIL", id, "1", "boom"));
        Assert.Equal("-CANCELLED\r\n", worker.Call("NACK", id, "1"));
        Assert.Equal("-CANCELLED\r\n", worker.Call("NACK", id, "1", "DELAY", "10"));
        Assert.Equal("-CANCELLED\r\n", worker.Call("FAIL", id, "1", "boom", "NORETRY"));
        Assert.Equal("-STALE\r\n", worker.Call("NACK", id, "2")); // an attempt that was never delivered

        Dictionary<string, RespValue> after = await StatusAsync(client, id);
        Assert.Equal(("cancelled", "", cancelled["finished_ms"].IntegerValue, 1),
            (after["state"].Text, after["error"].Text, after["finished_ms"].IntegerValue, after["attempt"].IntegerValue));
        Assert.Equal("CANCELLED", (await client.ExecuteAsync("RESULT", id)).Text);
        Assert.Empty(await client.FetchAsync(["cancel-leased"])); // neither NACK queued it again
        Assert.Empty((await client.ExecuteAsync("DEAD", "LIST")).Elements); // nor did FAIL NORETRY kill it
        Assert.Equal("0", await InfoValueAsync(client, "workers", "external_leased_tasks"));

        // Cancelled under a worker that then goes away: it stays cancelled, nothing is requeued on the close.
        string other = await SubmitAsync(client, "resize", "QUEUE", "cancel-leased");
        string fetchers = await InfoValueAsync(client, "workers", "external_fetchers");
        using (RawConnection doomed = server.Connect())
        {
            doomed.SendCommand("FETCH", "FROM", "cancel-leased");
            Assert.Contains(other, doomed.ReadReply());
            Assert.Equal(1, (await client.ExecuteAsync("CANCEL", other)).IntegerValue);
        }
        await WaitForAsync(async () => await InfoValueAsync(client, "workers", "external_fetchers") == fetchers); // the close was seen
        Assert.Equal("cancelled", (await StatusAsync(client, other))["state"].Text);
        Assert.Equal("0", await InfoValueAsync(client, "workers", "external_requeued_on_close"));
        Assert.Empty(await client.FetchAsync(["cancel-leased"]));
    }

    [Fact]
    public async Task Nack_with_a_delay_hides_the_task_until_then_and_counts_no_failure()
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await ConnectAsync(server);
        string later = await SubmitAsync(client, "resize", "QUEUE", "nack-later");
        string soon = await SubmitAsync(client, "resize", "QUEUE", "nack-later", "RETRIES", "1", "BACKOFF", "10");
        IReadOnlyList<FetchedTask> fetched = await client.FetchAsync(["nack-later"], count: 2);

        // A long delay: not fetchable now, scheduled for then.
        long nackedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Assert.Equal(DeliveryOutcome.Accepted, await client.NackAsync(fetched[0], TimeSpan.FromMinutes(1)));
        long answeredAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Dictionary<string, RespValue> waiting = await StatusAsync(client, later);
        Assert.Equal("scheduled", waiting["state"].Text);
        Assert.InRange(waiting["run_at_ms"].IntegerValue, nackedAt + 60_000 - 50, answeredAt + 60_000 + 50);
        Assert.Empty(await client.FetchAsync(["nack-later"]));

        // A short one: a FETCH blocked from the moment of the NACK is served no sooner than the delay, with the next attempt.
        var clock = Stopwatch.StartNew();
        Assert.Equal(DeliveryOutcome.Accepted, await client.NackAsync(fetched[1], TimeSpan.FromMilliseconds(300)));
        FetchedTask second = (await client.FetchAsync(["nack-later"], block: Patience)).Single();
        Assert.True(clock.ElapsedMilliseconds >= 290, $"fetched {clock.ElapsedMilliseconds} ms after a NACK DELAY 300");
        Assert.Equal((soon, 2), (second.Id, second.Attempt));
        Assert.Equal("0", await InfoValueAsync(client, "queueing", "retried_total"));
        Assert.Equal("scheduled", (await StatusAsync(client, later))["state"].Text);

        // Neither NACK used a retry: the first FAIL still has RETRIES 1 to spend, the second ends it.
        Assert.Equal(DeliveryOutcome.Accepted, await client.FailAsync(second, "first failure"));
        Assert.Contains((await StatusAsync(client, soon))["state"].Text, new[] { "retrying", "queued" }); // queued once its 10 ms backoff is over
        FetchedTask third = (await client.FetchAsync(["nack-later"], block: Patience)).Single();
        Assert.Equal((soon, 3), (third.Id, third.Attempt));
        Assert.Equal(DeliveryOutcome.Accepted, await client.FailAsync(third, "second failure"));
        Assert.Equal("FAILED second failure", (await client.ExecuteAsync("RESULT", soon)).Text);
    }

    [Fact]
    public async Task Fail_noretry_fails_a_task_with_retries_left_at_once()
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await ConnectAsync(server);
        string final = await SubmitAsync(client, "resize", "QUEUE", "noretry", "RETRIES", "5");
        string retried = await SubmitAsync(client, "resize", "QUEUE", "noretry", "RETRIES", "5");
        IReadOnlyList<FetchedTask> fetched = await client.FetchAsync(["noretry"], count: 2);
        Assert.Equal([final, retried], fetched.Select(t => t.Id));

        Assert.Equal(DeliveryOutcome.Accepted, await client.FailAsync(fetched[0], "disk full", noRetry: true));
        Assert.Equal(DeliveryOutcome.Accepted, await client.FailAsync(fetched[1], "disk full"));
        Dictionary<string, RespValue> status = await StatusAsync(client, final);
        Assert.Equal(("failed", "disk full", 1), (status["state"].Text, status["error"].Text, status["attempt"].IntegerValue));
        Assert.True(status["finished_ms"].IntegerValue > 0);
        Assert.Equal("FAILED disk full", (await client.ExecuteAsync("RESULT", final)).Text);
        Assert.Equal([final], (await client.ExecuteAsync("DEAD", "LIST", "QUEUE", "noretry")).Elements.Select(e => e.Text));
        Assert.Equal("retrying", (await StatusAsync(client, retried))["state"].Text); // without NORETRY the same FAIL retries
        Assert.Equal(DeliveryOutcome.Stale, await client.FailAsync(fetched[0], "again", noRetry: true));
    }

    [Fact]
    public async Task An_expired_lease_requeues_at_the_head_saying_how_long_the_lease_was()
    {
        await using var server = new TestServer();
        await using EventLoopClient worker = await ConnectAsync(server); // stays connected: this is expiry, not a close
        await using EventLoopClient observer = await ConnectAsync(server);
        string expiring = await SubmitAsync(worker, "resize", "QUEUE", "expiry", "RETRIES", "0");
        string behind = await SubmitAsync(worker, "resize", "QUEUE", "expiry");
        Assert.Equal(expiring, (await worker.FetchAsync(["expiry"], lease: TimeSpan.FromMilliseconds(200))).Single().Id);

        await WaitForAsync(async () => (await StatusAsync(observer, expiring))["state"].Text == "queued");
        Dictionary<string, RespValue> status = await StatusAsync(observer, expiring);
        Assert.Equal(("lease expired after 200 ms", 1), (status["error"].Text, status["attempt"].IntegerValue)); // not a failure: RETRIES 0 is untouched
        IReadOnlyList<FetchedTask> again = await worker.FetchAsync(["expiry"], count: 2);
        Assert.Equal([(expiring, 2L), (behind, 1L)], again.Select(t => (t.Id, t.Attempt))); // back at the head, ahead of the younger task

        // The text names the lease in force: here the one a TOUCH set.
        Assert.Equal(DeliveryOutcome.Accepted, await worker.TouchAsync(again[0], TimeSpan.FromMilliseconds(150)));
        await WaitForAsync(async () => (await StatusAsync(observer, expiring))["state"].Text == "queued");
        Assert.Equal("lease expired after 150 ms", (await StatusAsync(observer, expiring))["error"].Text);
        Assert.Equal("2", await InfoValueAsync(observer, "workers", "external_lease_expiries"));
        Assert.Equal("0", await InfoValueAsync(observer, "workers", "external_requeued_on_close"));
        Assert.Equal("running", (await StatusAsync(observer, behind))["state"].Text); // its default lease runs on
    }

    [Fact]
    public async Task External_fetchers_counts_open_connections_that_have_fetched_or_are_fetching()
    {
        await using var server = new TestServer();
        await using EventLoopClient observer = await ConnectAsync(server);
        Task<string> Fetchers() => InfoValueAsync(observer, "workers", "external_fetchers");
        string id = await SubmitAsync(observer, "resize", "QUEUE", "counted");
        using (RawConnection refused = server.Connect())
            Assert.StartsWith("-ERR", refused.Call("FETCH", "COUNT", "0", "FROM", "counted"));
        Assert.Equal("0", await Fetchers()); // submitting, or a refused FETCH, makes no fetcher

        RawConnection idle = server.Connect();
        Assert.Equal("*0\r\n", idle.Call("FETCH", "FROM", "empty"));
        Assert.Equal("1", await Fetchers()); // a FETCH that found nothing still counts
        Assert.Equal("*0\r\n", idle.Call("FETCH", "FROM", "empty"));
        Assert.Equal("1", await Fetchers()); // once per connection

        RawConnection holder = server.Connect();
        holder.SendCommand("FETCH", "FROM", "counted");
        Assert.Contains(id, holder.ReadReply());
        await using (EventLoopClient settler = await ConnectAsync(server))
        {
            Assert.Equal("OK", (await settler.ExecuteAsync("ACK", id, "1", "done")).Text);
            Assert.Equal("2", await Fetchers()); // settling from a pool connection makes no fetcher
        }

        RawConnection blocked = server.Connect();
        blocked.SendCommand("FETCH", "BLOCK", "0", "FROM", "empty");
        await WaitForAsync(async () => await InfoValueAsync(observer, "workers", "external_blocked_fetchers") == "1");
        Assert.Equal("3", await Fetchers()); // blocked in its first FETCH

        idle.Dispose();
        await WaitForAsync(async () => await Fetchers() == "2");
        holder.Dispose();
        await WaitForAsync(async () => await Fetchers() == "1");
        blocked.Dispose();
        await WaitForAsync(async () => await Fetchers() == "0");
        Assert.Equal("0", await InfoValueAsync(observer, "workers", "external_blocked_fetchers"));
    }

    /// <summary>An interactive redis-cli (stdin not a terminal): one connection, a line per command, replies read as they come.</summary>
    private sealed class RedisCliSession : IDisposable
    {
        private readonly Process _process;

        public RedisCliSession(int port)
        {
            var start = new ProcessStartInfo(ExternalProcess.Locate("redis-cli"))
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            start.ArgumentList.Add("-p");
            start.ArgumentList.Add(port.ToString());
            _process = Process.Start(start)!;
        }

        public void Send(string line)
        {
            _process.StandardInput.Write(line + "\n");
            _process.StandardInput.Flush();
        }

        public string[] ReadLines(int count)
        {
            var lines = new string[count];
            for (int i = 0; i < count; i++)
                lines[i] = _process.StandardOutput.ReadLineAsync().WaitAsync(Patience).GetAwaiter().GetResult()
                    ?? throw new IOException($"redis-cli exited after {i} of {count} lines");
            return lines;
        }

        public void Dispose()
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(10_000))
                _process.Kill();
            _process.Dispose();
        }
    }
}
