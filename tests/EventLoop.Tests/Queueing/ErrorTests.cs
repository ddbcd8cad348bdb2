using EventLoop.Client;
using EventLoop.Tests.Server;
using static EventLoop.Tests.Queueing.QueueKit;

namespace EventLoop.Tests.Queueing;

/// <summary>
/// Every error text of wire-spec.md, byte for byte; each one changes nothing (no task, queue or schedule appears,
/// no counter moves) and leaves the connection usable.
/// </summary>
public sealed class ErrorTests : IAsyncLifetime
{
    private static readonly string Long128 = new('q', 128), Long129 = new('q', 129);
    private static readonly string Key512 = new('k', 512), Key513 = new('k', 513);
    private TestServer _server = null!;

    public Task InitializeAsync()
    {
        _server = new TestServer();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public static TheoryData<string[], string> SubmitErrors => new()
    {
        { ["SUBMIT"], "-ERR wrong number of arguments for 'submit' command\r\n" },
        { ["submit"], "-ERR wrong number of arguments for 'submit' command\r\n" },
        { ["SUBMIT", "echo", "BOGUS", "ARGS", "x"], "-ERR unknown option 'BOGUS'\r\n" },
        { ["SUBMIT", "echo", "QUEUE", "q", "NOPE", "1", "ARGS"], "-ERR unknown option 'NOPE'\r\n" },
        { ["SUBMIT", "echo", "x"], "-ERR syntax error: ARGS expected\r\n" },
        { ["SUBMIT", "echo", "PRIORITY", "1", "x", "y"], "-ERR syntax error: ARGS expected\r\n" },
        { ["SUBMIT", "echo", "DELAY"], "-ERR syntax error: DELAY needs a value\r\n" },
        { ["SUBMIT", "echo", "QUEUE"], "-ERR syntax error: QUEUE needs a value\r\n" },
        { ["SUBMIT", "echo", "PRIORITY", "1", "KEY"], "-ERR syntax error: KEY needs a value\r\n" },
        { ["SUBMIT", "echo", "RESULT-TTL"], "-ERR syntax error: RESULT-TTL needs a value\r\n" },
        { ["SUBMIT", "echo", "DELAY", "-1", "ARGS", "x"], "-ERR DELAY must be a non-negative integer\r\n" },
        { ["SUBMIT", "echo", "DELAY", "soon", "ARGS", "x"], "-ERR DELAY must be a non-negative integer\r\n" },
        { ["SUBMIT", "echo", "DELAY", "1.5", "ARGS", "x"], "-ERR DELAY must be a non-negative integer\r\n" },
        { ["SUBMIT", "echo", "DELAY", "", "ARGS", "x"], "-ERR DELAY must be a non-negative integer\r\n" },
        { ["SUBMIT", "echo", "AT", "x", "ARGS", "x"], "-ERR AT must be a non-negative integer\r\n" },
        { ["SUBMIT", "echo", "AT", "-5", "ARGS", "x"], "-ERR AT must be a non-negative integer\r\n" },
        { ["SUBMIT", "echo", "RETRIES", "-1", "ARGS", "x"], "-ERR RETRIES must be a non-negative integer\r\n" },
        { ["SUBMIT", "echo", "RETRIES", "many", "ARGS", "x"], "-ERR RETRIES must be a non-negative integer\r\n" },
        { ["SUBMIT", "echo", "TIMEOUT", "x", "ARGS", "x"], "-ERR TIMEOUT must be a non-negative integer\r\n" },
        { ["SUBMIT", "echo", "TIMEOUT", "-1", "ARGS", "x"], "-ERR TIMEOUT must be a non-negative integer\r\n" },
        { ["SUBMIT", "echo", "RESULT-TTL", "x", "ARGS", "x"], "-ERR RESULT-TTL must be a non-negative integer\r\n" },
        { ["SUBMIT", "echo", "RESULT-TTL", "-1", "ARGS", "x"], "-ERR RESULT-TTL must be a non-negative integer\r\n" },
        { ["SUBMIT", "echo", "BACKOFF", "0", "ARGS", "x"], "-ERR BACKOFF must be a positive integer\r\n" },
        { ["SUBMIT", "echo", "BACKOFF", "-3", "ARGS", "x"], "-ERR BACKOFF must be a positive integer\r\n" },
        { ["SUBMIT", "echo", "BACKOFF", "x", "ARGS", "x"], "-ERR BACKOFF must be a positive integer\r\n" },
        { ["SUBMIT", "echo", "PRIORITY", "10", "ARGS", "x"], "-ERR PRIORITY must be an integer from 0 to 9\r\n" },
        { ["SUBMIT", "echo", "PRIORITY", "-1", "ARGS", "x"], "-ERR PRIORITY must be an integer from 0 to 9\r\n" },
        { ["SUBMIT", "echo", "PRIORITY", "high", "ARGS", "x"], "-ERR PRIORITY must be an integer from 0 to 9\r\n" },
        { ["SUBMIT", "echo", "DELAY", "1", "DELAY", "2", "ARGS", "x"], "-ERR option 'DELAY' given twice\r\n" },
        { ["SUBMIT", "echo", "delay", "1", "Delay", "2", "ARGS", "x"], "-ERR option 'DELAY' given twice\r\n" },
        { ["SUBMIT", "echo", "QUEUE", "a", "queue", "b", "ARGS", "x"], "-ERR option 'QUEUE' given twice\r\n" },
        { ["SUBMIT", "echo", "KEY", "a", "KEY", "a", "ARGS", "x"], "-ERR option 'KEY' given twice\r\n" },
        { ["SUBMIT", "echo", "result-ttl", "1", "RESULT-TTL", "1", "ARGS", "x"], "-ERR option 'RESULT-TTL' given twice\r\n" },
        { ["SUBMIT", "echo", "DELAY", "1", "AT", "2", "ARGS", "x"], "-ERR DELAY and AT cannot be combined\r\n" },
        { ["SUBMIT", "echo", "AT", "2", "DELAY", "1", "ARGS", "x"], "-ERR DELAY and AT cannot be combined\r\n" },
        { ["SUBMIT", "echo", "DELAY", "9000000000000000", "ARGS", "x"], "-ERR DELAY is too far in the future\r\n" },
        { ["SUBMIT", "echo", "AT", "253402300800001", "ARGS", "x"], "-ERR AT is too far in the future\r\n" },
        { ["SUBMIT", "echo", "RETRIES", "1000001", "ARGS", "x"], "-ERR RETRIES must be at most 1000000\r\n" },
        { ["SUBMIT", "echo", "BACKOFF", "3600001", "ARGS", "x"], "-ERR BACKOFF must be at most 3600000\r\n" },
        { ["SUBMIT", "echo", "QUEUE", "a b", "ARGS", "x"], "-ERR QUEUE must be 1 to 128 printable characters without spaces\r\n" },
        { ["SUBMIT", "echo", "QUEUE", "", "ARGS", "x"], "-ERR QUEUE must be 1 to 128 printable characters without spaces\r\n" },
        { ["SUBMIT", "echo", "QUEUE", Long129, "ARGS", "x"], "-ERR QUEUE must be 1 to 128 printable characters without spaces\r\n" },
        { ["SUBMIT", "echo", "QUEUE", "tab\tq", "ARGS", "x"], "-ERR QUEUE must be 1 to 128 printable characters without spaces\r\n" },
        { ["SUBMIT", "echo", "KEY", "", "ARGS", "x"], "-ERR KEY must be 1 to 512 bytes\r\n" },
        { ["SUBMIT", "echo", "KEY", Key513, "ARGS", "x"], "-ERR KEY must be 1 to 512 bytes\r\n" },
        { ["SUBMIT", "echo", "KEY", new string('\u00e9', 257), "ARGS", "x"], "-ERR KEY must be 1 to 512 bytes\r\n" }, // 514 bytes
        { ["SUBMIT", "echo", "KEY", "order\u00007", "ARGS", "x"], "-ERR KEY must be UTF-8 text without NUL bytes\r\n" },
        { ["SUBMIT", "echo", "QUEUE", "caf\u00e9", "ARGS", "x"], "-ERR QUEUE must be 1 to 128 printable characters without spaces\r\n" },
        // Past 64 bits a number is still a number: it meets the range check.
        { ["SUBMIT", "echo", "AT", "999999999999999999999", "ARGS", "x"], "-ERR AT is too far in the future\r\n" },
        { ["SUBMIT", "echo", "TIMEOUT", "99999999999999999999", "ARGS", "x"], "-ERR TIMEOUT must be at most 2147483647\r\n" },
        { ["SUBMIT", "echo", "PRIORITY", "99999999999999999999", "ARGS", "x"], "-ERR PRIORITY must be an integer from 0 to 9\r\n" },
        { ["SUBMIT", "echo", "DELAY", "-99999999999999999999", "ARGS", "x"], "-ERR DELAY must be a non-negative integer\r\n" },
        { ["SUBMIT", "echo", "DELAY", "9x", "ARGS", "x"], "-ERR DELAY must be a non-negative integer\r\n" },
    };

    public static TheoryData<string[], string> OtherErrors => new()
    {
        { ["RESULT", "1", "TIMEOUT", "x"], "-ERR TIMEOUT must be a non-negative integer\r\n" },
        { ["RESULT", "1", "TIMEOUT", "-1"], "-ERR TIMEOUT must be a non-negative integer\r\n" },
        { ["WAIT", "x", "1"], "-ERR timeout is not a non-negative integer\r\n" },
        { ["WAIT", "-1", "1"], "-ERR timeout is not a non-negative integer\r\n" },
        { ["WAIT", "10"], "-ERR wrong number of arguments for 'wait' command\r\n" },
        { ["WAIT"], "-ERR wrong number of arguments for 'wait' command\r\n" },
        { ["SCHEDULE", "ADD", "s", "EVERY", "0", "echo"], "-ERR EVERY must be a positive integer\r\n" },
        { ["SCHEDULE", "ADD", "s", "EVERY", "-100", "echo"], "-ERR EVERY must be a positive integer\r\n" },
        { ["SCHEDULE", "ADD", "s", "EVERY", "often", "echo"], "-ERR EVERY must be a positive integer\r\n" },
        { ["SCHEDULE", "ADD", "s", "CRON", "0 0 31 2 *", "echo"], "-ERR CRON expression never fires\r\n" },
        { ["SCHEDULE", "ADD", "s", "CRON", "0 3 * * *", "TZ", "Mars/Olympus", "echo"], "-ERR unknown time zone 'Mars/Olympus'\r\n" },
        { ["SCHEDULE", "ADD", "s", "EVERY", "100", "echo", "DELAY", "5"], "-ERR option 'DELAY' is not allowed in a schedule\r\n" },
        { ["SCHEDULE", "ADD", "s", "EVERY", "100", "echo", "AT", "5"], "-ERR option 'AT' is not allowed in a schedule\r\n" },
        { ["SCHEDULE", "ADD", "s", "EVERY", "100", "echo", "KEY", "k", "ARGS", "x"], "-ERR option 'KEY' is not allowed in a schedule\r\n" },
        { ["SCHEDULE", "ADD", "s", "HOURLY", "100", "echo"], "-ERR syntax error: EVERY or CRON expected\r\n" },
        { ["SCHEDULE", "ADD", "s", "echo", "ARGS", "x"], "-ERR syntax error: EVERY or CRON expected\r\n" },
        { ["SCHEDULE", "ADD", "s", "HOURLY", "echo"], "-ERR syntax error: EVERY or CRON expected\r\n" },
        { ["SCHEDULE", "ADD", "s", "echo"], "-ERR syntax error: EVERY or CRON expected\r\n" },
        { ["SCHEDULE", "ADD", "s", "EVERY", "100", "echo", "PRIORITY", "10"], "-ERR PRIORITY must be an integer from 0 to 9\r\n" },
        { ["SCHEDULE", "ADD", "s", "EVERY", "100", "echo", "BOGUS", "ARGS", "x"], "-ERR unknown option 'BOGUS'\r\n" },
        { ["DEAD", "LIST", "QUEUE", "nul\0q"], "-ERR QUEUE must be 1 to 128 printable characters without spaces\r\n" },
        { ["DEAD", "LIST", "QUEUE", "a b"], "-ERR QUEUE must be 1 to 128 printable characters without spaces\r\n" },
        // Every command's trailing options: an unknown word, a word twice, a word without its value, each named.
        { ["RESULT", "1", "WHEN", "5"], "-ERR unknown option 'WHEN'\r\n" },
        { ["RESULT", "1", "TIMEOUT"], "-ERR syntax error: TIMEOUT needs a value\r\n" },
        { ["RESULT", "1", "TIMEOUT", "5", "timeout", "6"], "-ERR option 'TIMEOUT' given twice\r\n" },
        { ["DEAD", "LIST", "FOO"], "-ERR unknown option 'FOO'\r\n" },
        { ["DEAD", "LIST", "COUNT"], "-ERR syntax error: COUNT needs a value\r\n" },
        { ["DEAD", "LIST", "COUNT", "1", "COUNT", "2"], "-ERR option 'COUNT' given twice\r\n" },
        { ["DEAD", "LIST", "queue", "q", "QUEUE", "q"], "-ERR option 'QUEUE' given twice\r\n" },
        { ["NACK", "1", "1", "FOO"], "-ERR unknown option 'FOO'\r\n" },
        { ["NACK", "1", "1", "DELAY"], "-ERR syntax error: DELAY needs a value\r\n" },
        { ["NACK", "1", "1", "DELAY", "5", "DELAY", "6"], "-ERR option 'DELAY' given twice\r\n" },
        { ["TOUCH", "1", "1", "LEASE", "5", "LEASE", "6"], "-ERR option 'LEASE' given twice\r\n" },
        { ["FAIL", "1", "1", "boom", "NORETRY", "x"], "-ERR unknown option 'x'\r\n" },
        { ["FAIL", "1", "1", "boom", "NORETRY", "noretry"], "-ERR option 'NORETRY' given twice\r\n" },
        { ["SCHEDULE", "ADD", "s", "CRON", "* * * * *", "TZ", "UTC", "TZ", "UTC", "echo"], "-ERR option 'TZ' given twice\r\n" },
        { ["SCHEDULE", "ADD", "s", "EVERY", "1000", "TZ", "UTC", "echo"], "-ERR option 'TZ' is allowed with CRON only: EVERY counts from the Unix epoch\r\n" },
        { ["SCHEDULE", "ADD", "s", "EVERY", "9223372036854775807", "echo"], "-ERR EVERY must be at most 253402300799999\r\n" },
    };

    /// <summary>Errors whose exact words the spec leaves open: an -ERR that changes nothing is the contract.</summary>
    public static TheoryData<string[], string> Unworded => new()
    {
        { ["SCHEDULE", "ADD", "s", "CRON", "not a cron", "echo"], "-ERR invalid CRON expression: " },
        { ["SCHEDULE", "ADD", "s", "CRON", "61 * * * *", "echo"], "-ERR invalid CRON expression: " },
        { ["SCHEDULE", "ADD", "s", "CRON", "* * * *", "echo"], "-ERR invalid CRON expression: " },
        { ["SCHEDULE", "ADD", "a@b", "EVERY", "100", "echo"], "-ERR " },
        { ["SCHEDULE", "ADD", "a b", "EVERY", "100", "echo"], "-ERR " },
        { ["SCHEDULE", "ADD", "", "EVERY", "100", "echo"], "-ERR " },
        { ["SCHEDULE", "ADD", Long129, "EVERY", "100", "echo"], "-ERR " },
        { ["SCHEDULE", "ADD", "s", "EVERY"], "-ERR " },
        { ["SCHEDULE", "ADD"], "-ERR " },
        { ["SCHEDULE"], "-ERR " },
        { ["SCHEDULE", "NOPE"], "-ERR " },
        { ["SCHEDULE", "DEL"], "-ERR " },
        { ["STATUS"], "-ERR " },
        { ["STATUS", "1", "2"], "-ERR " },
        { ["RESULT"], "-ERR " },
        { ["CANCEL"], "-ERR " },
        { ["QUEUE"], "-ERR " },
        { ["QUEUE", "PAUSE"], "-ERR " },
        { ["QUEUE", "STOP", "q"], "-ERR " },
        { ["QUEUE", "PAUSE", "a b"], "-ERR " },
        { ["DEAD"], "-ERR " },
        { ["DEAD", "LIST", "COUNT", "x"], "-ERR " },
        { ["DEAD", "LIST", "COUNT", "-1"], "-ERR " },
        { ["DEAD", "LIST", "BOGUS", "1"], "-ERR " },
        { ["DEAD", "RETRY"], "-ERR " },
        { ["DEAD", "DROP"], "-ERR " },
        { ["DEAD", "BURY", "1"], "-ERR " },
    };

    [Theory]
    [MemberData(nameof(SubmitErrors))]
    [MemberData(nameof(OtherErrors))]
    public void Errors_have_the_decided_words_and_change_nothing(string[] request, string expected)
    {
        using RawConnection client = _server.Connect();
        Snapshot before = Take(client);
        Assert.Equal(expected, client.Call(request));
        Assert.Equal(before, Take(client));
        Assert.Equal("+PONG\r\n", client.Call("PING"));
    }

    [Theory]
    [MemberData(nameof(Unworded))]
    public void Other_malformed_uses_answer_an_error_and_change_nothing(string[] request, string prefix)
    {
        using RawConnection client = _server.Connect();
        Snapshot before = Take(client);
        string reply = client.Call(request);
        Assert.StartsWith(prefix, reply);
        Assert.EndsWith("\r\n", reply);
        Assert.Equal(before, Take(client));
        Assert.Equal("+PONG\r\n", client.Call("PING"));
    }

    [Fact]
    public void Keys_that_are_not_UTF8_are_refused_rather_than_taken_for_one_another()
    {
        using RawConnection client = _server.Connect();
        Snapshot before = Take(client);
        foreach (byte invalid in new byte[] { 0xFF, 0xFE }) // both would decode to U+FFFD: the same key
        {
            client.Send(RawConnection.EncodeBytes("SUBMIT"u8.ToArray(), "echo"u8.ToArray(), "KEY"u8.ToArray(), [(byte)'k', invalid], "ARGS"u8.ToArray(), "x"u8.ToArray()));
            Assert.Equal("-ERR KEY must be UTF-8 text without NUL bytes\r\n", client.ReadReply());
        }
        Assert.Equal(before, Take(client));
    }

    [Fact]
    public void The_edges_of_each_range_are_accepted()
    {
        using RawConnection client = _server.Connect();
        client.Call("QUEUE", "PAUSE", Long128);
        string[] ids =
        [
            client.Submit("echo"), // no ARGS: a task with no arguments
            client.Submit("echo", "ARGS"),
            client.Submit("echo", "QUEUE", Long128, "KEY", Key512, "PRIORITY", "9", "RETRIES", "1000000", "BACKOFF", "3600000",
                "TIMEOUT", "0", "RESULT-TTL", "0", "ARGS", "x"),
            client.Submit("echo", "priority", "0", "Delay", "0", "args", "lower-case options"),
            client.Submit("echo", "AT", "9000000000000", "ARGS", "x"),
            client.Submit("echo", "QUEUE", Long128, "ARGS", "ARGS", "QUEUE", "DELAY"), // after ARGS, words are arguments
            client.Submit("echo", "KEY", new string('\u00e9', 256), "DELAY", "60000", "ARGS", "x"), // 512 bytes
        ];
        Assert.Equal(ids.Length, ids.Distinct().Count());
        Assert.Equal("-FAILED expects 1 argument, got 0\r\n", client.Result(ids[0], 10_000));
        Assert.Equal("-FAILED expects 1 argument, got 0\r\n", client.Result(ids[1], 10_000));
        Assert.Equal(Bulk("lower-case options"), client.Result(ids[3], 10_000));
        Assert.Equal(TaskState.Scheduled, client.State(ids[4]));
        Assert.Equal(TaskState.Queued, client.State(ids[5]));
        Assert.Equal(9, client.RequireStatus(ids[2]).Priority);
        Assert.Equal(Long128, client.RequireStatus(ids[2]).Queue);
        client.Call("QUEUE", "RESUME", Long128);
        Assert.Equal("-FAILED expects 1 argument, got 3\r\n", client.Result(ids[5], 10_000));
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", new string('s', 128), "EVERY", "3600000", "echo", "ARGS", "x"));
        Assert.Equal(":1\r\n", client.Call("SCHEDULE", "DEL", new string('s', 128)));
    }

    [Theory]
    [InlineData("AT", "253402300799999")]    // the last millisecond of year 9999
    [InlineData("AT", "20000000000000")]     // year 2603
    [InlineData("DELAY", "10000000000000")]  // 317 years
    public void A_time_far_in_the_future_but_before_year_10000_is_scheduled_not_run(string option, string value)
    {
        using RawConnection client = _server.Connect();
        long now = NowMs;
        string id = client.Submit("echo", option, value, "ARGS", "x");
        TaskStatusInfo status = client.RequireStatus(id);
        long expected = option == "AT" ? long.Parse(value) : now + long.Parse(value);
        Assert.InRange(status.RunAt!.Value.ToUnixTimeMilliseconds(), expected - 5_000, expected + 5_000);
        Assert.Equal("-PENDING scheduled\r\n", client.Result(id, 200));
        Assert.Equal(TaskState.Scheduled, client.State(id));
        Assert.Equal(":1\r\n", client.Call("CANCEL", id));
    }

    [Fact]
    public void Options_are_case_insensitive_in_any_order()
    {
        using RawConnection client = _server.Connect();
        string id = client.Submit("ECHO", "result-ttl", "60", "Priority", "3", "queue", "mixed-case", "ArGs", "v");
        Assert.Equal(Bulk("v"), client.Result(id, 10_000));
        TaskStatusInfo status = client.RequireStatus(id);
        Assert.Equal(("mixed-case", 3), (status.Queue, status.Priority));
    }

    private sealed record Snapshot(string Tasks, string Submitted, string Queues, string Schedules, string QueuesReply, string ScheduleList);

    private static Snapshot Take(RawConnection client)
    {
        Dictionary<string, string> info = client.Info();
        return new Snapshot(info["tasks"], info["submitted_total"], info["queues"], info["schedules"],
            client.Call("QUEUES"), client.Call("SCHEDULE", "LIST"));
    }
}
