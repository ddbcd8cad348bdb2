using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using EventLoop.Client;
using EventLoop.Tests.Server;
using static EventLoop.Tests.Queueing.QueueKit;

namespace EventLoop.Tests.Queueing;

/// <summary>
/// Connections parked by <c>RESULT id TIMEOUT ms</c> and <c>WAIT</c>: they time out, wake early, keep pipelined
/// replies in order, are cleaned up when they close; and tasks outlive the connection that submitted them.
/// </summary>
public sealed class ParkingTests : IAsyncLifetime
{
    private readonly Gate _gate = new();
    private TestServer _server = null!;

    public Task InitializeAsync()
    {
        _server = new TestServer(registerTasks: server => server.Tasks.Register("gate", async (_, result, cancel) =>
        {
            await _gate.PassAsync(cancel);
            result.Write("opened"u8);
        }));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _gate.Open();
        await _server.DisposeAsync();
    }

    [Fact]
    public void A_parked_result_times_out_with_pending_and_its_state()
    {
        using RawConnection client = _server.Connect();
        string queue = Unique("park");
        client.Call("QUEUE", "PAUSE", queue);
        string id = client.Submit("echo", "QUEUE", queue, "ARGS", "x");
        var clock = Stopwatch.StartNew();
        Assert.Equal("-PENDING queued\r\n", client.Result(id, 300));
        Assert.InRange(clock.ElapsedMilliseconds, 290, 10_000);
        Assert.Equal(0, client.InfoNumber("parked_connections"));

        string scheduled = client.Submit("echo", "DELAY", "60000", "ARGS", "x");
        Assert.Equal("-PENDING scheduled\r\n", client.Result(scheduled, 100));
        string running = client.Submit("gate");
        client.AwaitState(running, TaskState.Running);
        Assert.Equal("-PENDING running\r\n", client.Result(running, 100));
    }

    [Fact]
    public void A_parked_result_is_woken_as_soon_as_the_task_finishes()
    {
        using RawConnection client = _server.Connect();
        using RawConnection observer = _server.Connect();
        string id = client.Submit("gate");
        var clock = Stopwatch.StartNew();
        client.SendCommand("RESULT", id, "TIMEOUT", "25000");
        observer.AwaitInfo("parked_connections", 1);
        Assert.Equal("+PONG\r\n", observer.Call("PING")); // the reactor serves others meanwhile
        _gate.Open();
        Assert.Equal(Bulk("opened"), client.ReadReply(TimeSpan.FromSeconds(40)));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"woken after {clock.Elapsed}");
        observer.AwaitInfo("parked_connections", 0);
    }

    [Fact]
    public void Result_timeout_0_waits_without_limit_for_a_delayed_task()
    {
        using RawConnection client = _server.Connect();
        string id = client.Submit("echo", "DELAY", "400", "ARGS", "late");
        var clock = Stopwatch.StartNew();
        Assert.Equal(Bulk("late"), client.Result(id, 0));
        Assert.True(clock.ElapsedMilliseconds >= 300, $"answered after {clock.ElapsedMilliseconds} ms, before the delay");
    }

    [Fact]
    public void Replies_pipelined_behind_a_parked_result_come_after_it_in_order()
    {
        using RawConnection client = _server.Connect();
        string queue = Unique("pipe");
        client.Call("QUEUE", "PAUSE", queue);
        string id = client.Submit("echo", "QUEUE", queue, "ARGS", "x");
        var clock = Stopwatch.StartNew();
        client.Send([.. RawConnection.Encode("RESULT", id, "TIMEOUT", "1000"), .. RawConnection.Encode("PING"), .. RawConnection.Encode("ECHO", "after")]);
        Assert.Equal("-PENDING queued\r\n", client.ReadReply(TimeSpan.FromSeconds(30)));
        Assert.True(clock.ElapsedMilliseconds >= 950, $"RESULT answered after {clock.ElapsedMilliseconds} ms");
        Assert.Equal("+PONG\r\n", client.ReadReply());
        Assert.Equal(Bulk("after"), client.ReadReply());

        // Woken early, the order holds too.
        string gated = client.Submit("gate");
        client.Send([.. RawConnection.Encode("RESULT", gated, "TIMEOUT", "20000"), .. RawConnection.Encode("PING")]);
        using (RawConnection observer = _server.Connect())
            observer.AwaitInfo("parked_connections", 1);
        Assert.Equal(0, client.Socket.Available); // PONG is held behind the parked RESULT
        _gate.Open();
        Assert.Equal(Bulk("opened"), client.ReadReply(TimeSpan.FromSeconds(30)));
        Assert.Equal("+PONG\r\n", client.ReadReply());
    }

    [Theory]
    [InlineData("RESULT", "60000", false)]
    [InlineData("RESULT", "60000", true)]
    [InlineData("RESULT", "0", false)]
    [InlineData("RESULT", "0", true)]
    [InlineData("WAIT", "60000", false)]
    [InlineData("WAIT", "0", true)]
    public void A_parked_connection_that_closes_is_cleaned_up(string command, string timeoutMs, bool reset)
    {
        using RawConnection observer = _server.Connect();
        string queue = Unique("gone");
        observer.Call("QUEUE", "PAUSE", queue);
        string id = observer.Submit("echo", "QUEUE", queue, "ARGS", "x");
        long timersBefore = observer.InfoNumber("timers_pending");
        using (RawConnection parked = _server.Connect())
        {
            if (command == "RESULT")
                parked.SendCommand("RESULT", id, "TIMEOUT", timeoutMs);
            else
                parked.SendCommand("WAIT", timeoutMs, id);
            observer.AwaitInfo("parked_connections", 1);
            if (reset)
                parked.Socket.LingerState = new LingerOption(true, 0); // a reset instead of a FIN
            parked.Socket.Close();
        }
        observer.AwaitInfo("parked_connections", 0, TimeSpan.FromSeconds(10)); // a close is seen at once; 10 s is for a loaded machine
        observer.AwaitInfo("timers_pending", timersBefore, TimeSpan.FromSeconds(10)); // and its deadline goes with it
        observer.Call("QUEUE", "RESUME", queue);
        Assert.Equal(Bulk("x"), observer.Result(id, 10_000)); // the task is unharmed and nobody writes to the dead socket
        Assert.Equal("+PONG\r\n", observer.Call("PING"));
    }

    [Fact]
    public void A_half_closed_peer_gets_its_parked_replies_at_once_then_an_orderly_close()
    {
        using RawConnection observer = _server.Connect();
        string queue = Unique("half");
        observer.Call("QUEUE", "PAUSE", queue);
        string id = observer.Submit("echo", "QUEUE", queue, "ARGS", "x");
        using RawConnection client = _server.Connect();
        var clock = Stopwatch.StartNew();
        client.Send([.. RawConnection.Encode("RESULT", id, "TIMEOUT", "60000"), .. RawConnection.Encode("WAIT", "60000", id), .. RawConnection.Encode("PING")]);
        for (var wait = Stopwatch.StartNew(); observer.InfoNumber("parked_connections") == 0; Thread.Sleep(10))
            Assert.True(wait.Elapsed < Patience, "the RESULT never parked");
        client.Socket.Shutdown(SocketShutdown.Send); // no more requests: nothing is gained by holding the replies
        Assert.Equal("-PENDING queued\r\n", client.ReadReply());
        Assert.Equal(":0\r\n", client.ReadReply());
        Assert.Equal("+PONG\r\n", client.ReadReply());
        client.AssertOrderlyClose();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"answered after {clock.Elapsed}, not at once");
        observer.AwaitInfo("parked_connections", 0);
    }

    [Fact]
    public void Two_hundred_parked_connections_hold_no_thread_and_all_wake()
    {
        using RawConnection observer = _server.Connect();
        string queue = Unique("crowd");
        observer.Call("QUEUE", "PAUSE", queue);
        string id = observer.Submit("echo", "QUEUE", queue, "ARGS", "all of you");
        var parked = new List<RawConnection>();
        try
        {
            for (int i = 0; i < 200; i++)
            {
                RawConnection connection = _server.Connect();
                parked.Add(connection);
                if (i % 2 == 0)
                    connection.SendCommand("RESULT", id, "TIMEOUT", "0");
                else
                    connection.SendCommand("WAIT", "0", id);
            }
            observer.AwaitInfo("parked_connections", 200);
            string other = observer.Submit("echo", "ARGS", "still served"); // workers are free: none is held by a parked reply
            Assert.Equal(Bulk("still served"), observer.Result(other, 10_000));
            observer.Call("QUEUE", "RESUME", queue);
            for (int i = 0; i < parked.Count; i++)
                Assert.Equal(i % 2 == 0 ? Bulk("all of you") : ":1\r\n", parked[i].ReadReply(TimeSpan.FromSeconds(30)));
            observer.AwaitInfo("parked_connections", 0);
        }
        finally
        {
            parked.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public void Wait_over_a_thousand_ids_counts_them_all()
    {
        using RawConnection client = _server.Connect();
        using RawConnection waiter = _server.Connect();
        string queue = Unique("thousand");
        client.Call("QUEUE", "PAUSE", queue);
        string[] ids = SubmitPipelined(client, 1000, i => ["SUBMIT", "echo", "QUEUE", queue, "ARGS", $"v{i}"]);
        Assert.Equal(1000, ids.Distinct().Count());
        Assert.Equal(0, waiter.Wait(ids, TimeSpan.FromMilliseconds(50)));
        waiter.SendCommand(["WAIT", "30000", .. ids, "not-an-id"]);
        client.AwaitInfo("parked_connections", 1);
        client.Call("QUEUE", "RESUME", queue);
        Assert.Equal(":1000\r\n", waiter.ReadReply(TimeSpan.FromSeconds(40)));
        Assert.Equal(Bulk("v999"), client.Call("RESULT", ids[999]));
    }

    [Fact]
    public void A_hundred_thousand_pipelined_submits_then_a_disconnect_lose_nothing()
    {
        const int count = 100_000;
        long before;
        using (RawConnection observer = _server.Connect())
            before = observer.InfoNumber("succeeded_total");
        string queue = Unique("bulk");
        string[] ids;
        using (RawConnection producer = _server.Connect())
        {
            producer.Call("QUEUE", "PAUSE", queue); // they stay queued while the producer goes away
            ids = SubmitPipelined(producer, count, i => ["SUBMIT", "echo", "QUEUE", queue, "ARGS", i.ToString()]);
            producer.Socket.LingerState = new LingerOption(true, 0);
        } // closed with a reset
        Assert.Equal(count, ids.Distinct().Count());
        using RawConnection client = _server.Connect();
        Assert.Equal(count, client.Queues()[queue].Queued);
        client.Call("QUEUE", "RESUME", queue);
        Assert.Equal(count, client.Wait(ids, TimeSpan.FromSeconds(60)));
        Assert.True(client.InfoNumber("succeeded_total") - before >= count);
        Assert.Equal(Bulk("99999"), client.Call("RESULT", ids[^1]));
        Assert.Equal(Bulk("0"), client.Call("RESULT", ids[0]));
    }

    [Fact]
    public void Tasks_submitted_by_a_connection_that_resets_at_once_still_run()
    {
        string[] ids;
        using (RawConnection producer = _server.Connect())
        {
            ids = SubmitPipelined(producer, 2000, i => ["SUBMIT", "sleep", "ARGS", "1"]);
            producer.Socket.LingerState = new LingerOption(true, 0);
        }
        using RawConnection client = _server.Connect();
        Assert.Equal(ids.Length, client.Wait(ids));
    }

    /// <summary>
    /// Sends <paramref name="count"/> SUBMITs in large writes while reading the ids on another thread (so neither
    /// side's buffers fill), and returns the ids in order.
    /// </summary>
    internal static string[] SubmitPipelined(RawConnection connection, int count, Func<int, string[]> command)
    {
        Socket socket = connection.Socket;
        var ids = new string[count];
        Task reader = Task.Factory.StartNew(() =>
        {
            byte[] buffer = new byte[1 << 20];
            int filled = 0, parsed = 0, start = 0;
            socket.ReceiveTimeout = 60_000;
            while (parsed < count)
            {
                if (filled == buffer.Length)
                {
                    Array.Copy(buffer, start, buffer, 0, filled - start);
                    filled -= start;
                    start = 0;
                }
                int n = socket.Receive(buffer, filled, buffer.Length - filled, SocketFlags.None);
                if (n == 0)
                    throw new IOException($"closed after {parsed} replies");
                filled += n;
                while (parsed < count)
                {
                    int lineEnd = Array.IndexOf(buffer, (byte)'\n', start, filled - start);
                    if (lineEnd < 0)
                        break;
                    if (buffer[start] != '$')
                        throw new InvalidDataException($"reply {parsed}: {Encoding.UTF8.GetString(buffer, start, Math.Min(200, filled - start))}");
                    int length = int.Parse(Encoding.ASCII.GetString(buffer, start + 1, lineEnd - start - 2));
                    if (filled - (lineEnd + 1) < length + 2)
                        break;
                    ids[parsed++] = Encoding.ASCII.GetString(buffer, lineEnd + 1, length);
                    start = lineEnd + 1 + length + 2;
                }
            }
        }, TaskCreationOptions.LongRunning);
        var batch = new List<byte>(1 << 20);
        for (int i = 0; i < count; i++)
        {
            batch.AddRange(RawConnection.Encode(command(i)));
            if (batch.Count >= 256 * 1024 || i == count - 1)
            {
                connection.Send([.. batch]);
                batch.Clear();
            }
        }
        if (!reader.Wait(TimeSpan.FromSeconds(90)))
            throw new TimeoutException("the SUBMIT replies did not all come within 90 s");
        reader.GetAwaiter().GetResult();
        return ids;
    }
}
