using System.Buffers;
using System.Text;
using System.Text.RegularExpressions;
using EventLoop.Tests.Server;
using EventLoop.Tests.Support;
using EventLoop.Workers;

namespace EventLoop.Tests.Workers;

/// <summary>
/// The reactor runs proven-short synchronous tasks itself (<c>--inline-tasks</c>): same replies, same order,
/// and a task that turns out long goes back to the workers.
/// </summary>
public sealed partial class InlineTaskTests
{
    private static readonly ServerOptions Inline = new() { InlineTasks = InlineTaskMode.Yes };

    [Fact]
    public async Task Auto_holds_tasks_to_50_microseconds_on_one_cpu_and_to_5_beside_workers()
    {
        await using (var server = new TestServer())
        {
            using RawConnection client = server.Connect();
            Promote(client, "echo");
            string queue = client.Call("INFO", "queue");
            Assert.Contains("inline_tasks:on\r\n", queue);
            bool oneCpu = Environment.ProcessorCount == 1;
            Assert.Contains($"inline_short_run_us:{(oneCpu ? 50 : 5)}\r\n", queue);
            string tasks = client.Call("INFO", "tasks");
            // A 10 µs task costs more than handing it to another core, and less than the one-CPU bar.
            if (oneCpu)
                Promote(client, "spin");
            else
                SpinWindows(client, 4);
            Assert.StartsWith(oneCpu ? "reactor" : "workers", RunsOf(client.Call("INFO", "tasks"), "spin"));
        }
        using CliServer pinned = await CliServer.StartInShellAsync("taskset -p -c 0 $$ >/dev/null");
        using RawConnection pinnedClient = RawConnection.Open(pinned.Port);
        Promote(pinnedClient, "echo", "spin");
        for (int i = 0; i < 10; i++)
            Assert.Equal("$1\r\ny\r\n", pinnedClient.Call("RUN", "echo", "y"));
        Assert.Contains("inline_short_run_us:50\r\n", pinnedClient.Call("INFO", "queue"));
        Assert.True(InlineRuns(pinnedClient) > 0, "a process on one CPU ran no task on its reactor");
    }

    [Fact]
    public async Task No_keeps_every_task_on_the_workers()
    {
        await using var server = new TestServer(new ServerOptions { InlineTasks = InlineTaskMode.No });
        using RawConnection client = server.Connect();
        for (int i = 0; i < 4 * 64; i++)
            Assert.Equal("$1\r\nx\r\n", client.Call("RUN", "echo", "x"));
        Assert.Contains("inline_tasks:off\r\n", client.Call("INFO", "queue"));
        Assert.Equal(0, InlineRuns(client));
    }

    [Fact]
    public async Task Inline_replies_equal_worker_replies_in_request_order()
    {
        await using var server = new TestServer(Inline);
        using RawConnection client = server.Connect();
        Promote(client);
        Assert.Contains("task_fail:sync,runs_on=reactor,", client.Call("INFO", "tasks"));
        long before = InlineRuns(client);
        var pipeline = new List<byte>();
        pipeline.AddRange(RawConnection.Encode("RUN", "sleep", "100")); // asynchronous: always a worker's
        for (int i = 0; i < 100; i++)
            pipeline.AddRange(RawConnection.Encode("RUN", "echo", $"payload {i}"));
        pipeline.AddRange(RawConnection.Encode("RUN", "fail", "inline error"));
        pipeline.AddRange(RawConnection.Encode("PING"));
        pipeline.AddRange(RawConnection.Encode("RUN", "sha256", "abc"));
        client.Send([.. pipeline]);
        Assert.Equal("$2\r\nOK\r\n", client.ReadReply());
        for (int i = 0; i < 100; i++)
        {
            string payload = $"payload {i}";
            Assert.Equal($"${payload.Length}\r\n{payload}\r\n", client.ReadReply());
        }
        Assert.Equal("-ERR task 'fail' failed: inline error\r\n", client.ReadReply());
        Assert.Equal("+PONG\r\n", client.ReadReply());
        Assert.Equal("$64\r\nba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\r\n", client.ReadReply());
        // Not exactly 102: on a busy machine a window of runs slowed by preemption may send a task back to the workers.
        Assert.True(InlineRuns(client) > before + 50, "the promoted tasks did not run on the reactor");
    }

    [Fact]
    public async Task A_task_whose_runs_are_long_stays_on_the_workers()
    {
        await using var server = new TestServer(Inline);
        using RawConnection client = server.Connect();
        for (int i = 0; i < 3 * 64; i++)
            Assert.Equal("$2\r\nOK\r\n", client.Call("RUN", "spin", "200"));
        Assert.Contains("task_spin:sync,runs_on=workers,reactor_stalls=0", client.Call("INFO", "tasks"));
        Assert.Equal(0, InlineRuns(client));
    }

    [Fact]
    public async Task A_task_that_stalls_the_reactor_goes_back_to_the_workers_and_after_repeated_stalls_stays_there()
    {
        await using var server = new TestServer(Inline, s => s.Tasks.Register("sometimes", (args, result) =>
        {
            if (args[0].SequenceEqual("slow"u8))
                Thread.Sleep(5);
            result.Write(args[0]);
        }));
        using RawConnection client = server.Connect();
        string Runs() => RunsOf(client.Call("INFO", "tasks"), "sometimes");
        int stalls = 0;
        for (int round = 0; round < 20 && !Runs().StartsWith("workers-only", StringComparison.Ordinal); round++)
        {
            // Whole windows of 64 worker runs: the promotion comes with a window's last run, so no fast run
            // happens on the reactor before the slow one (a fast one preempted there could count as a stall).
            int windowsNeeded = 1 << Math.Max(0, stalls - 1);
            for (int window = 0; window < 4 * windowsNeeded + 4 && !Runs().StartsWith("reactor", StringComparison.Ordinal); window++)
                for (int j = 0; j < 64; j++)
                    Assert.Equal("$4\r\nfast\r\n", client.Call("RUN", "sometimes", "fast"));
            Assert.StartsWith("reactor", Runs());
            Assert.Equal("$4\r\nslow\r\n", client.Call("RUN", "sometimes", "slow"));
            stalls++;
            Assert.Equal($"workers{(stalls >= 5 ? "-only" : "")},reactor_stalls={stalls}", Runs());
        }
        Assert.Equal(5, stalls); // one lone stall, then four repeats
        for (int i = 0; i < 20 * 64; i++)
            client.Call("RUN", "sometimes", "fast");
        Assert.Equal("workers-only,reactor_stalls=5", Runs());
        Assert.Contains("inline_demotions:5\r\n", client.Call("INFO", "queue"));
    }

    [Fact]
    public async Task Queued_tasks_run_on_the_reactor_too_and_reach_the_store()
    {
        await using var server = new TestServer(Inline);
        using RawConnection client = server.Connect();
        Promote(client);
        long before = InlineRuns(client);
        var ids = new List<string>();
        for (int i = 0; i < 2000; i++)
        {
            client.SendCommand("SUBMIT", "echo", "ARGS", $"job {i}");
            if (i % 100 == 99)
                for (int j = 0; j < 100; j++)
                    ids.Add(BulkText(client.ReadReply()));
        }
        Assert.Equal(":2000\r\n", client.Call(["WAIT", "10000", .. ids]));
        for (int i = 0; i < ids.Count; i += 97)
            Assert.Equal(Bulk($"job {i}"), client.Call("RESULT", ids[i]));
        // Not all 2,000: on a busy machine a window slowed by preemption may send the task back to the workers for a while.
        Assert.True(InlineRuns(client) - before > 100, "queued echo tasks did not run on the reactor");
        string queueing = client.Call("INFO", "queueing");
        Assert.Contains("succeeded_total:2000\r\n", queueing);
    }

    /// <summary>Windows of 64 runs of <c>spin 10</c> (a 10 µs task).</summary>
    private static void SpinWindows(RawConnection client, int windows)
    {
        for (int i = 0; i < windows * 64; i++)
            Assert.Equal("$2\r\nOK\r\n", client.Call("RUN", "spin", "10"));
    }

    /// <summary>
    /// Runs each task (the built-in synchronous ones by default) in windows of 64 until the reactor runs it, and
    /// asserts that it does: at most 64 windows, since on a busy machine preemption lengthens some runs and a
    /// window may fail.
    /// </summary>
    private static void Promote(RawConnection client, params string[] tasks)
    {
        foreach (string task in tasks.Length > 0 ? tasks : ["echo", "fail", "sha256"])
        {
            string argument = task == "spin" ? "10" : "x";
            for (int window = 0; window < 64 && !RunsOf(client.Call("INFO", "tasks"), task).StartsWith("reactor", StringComparison.Ordinal); window++)
            {
                for (int i = 0; i < 64; i++)
                    client.Call("RUN", task, argument);
            }
            Assert.StartsWith("reactor", RunsOf(client.Call("INFO", "tasks"), task));
        }
    }

    private static long InlineRuns(RawConnection client) =>
        long.Parse(InlineRunsLine().Match(client.Call("INFO", "queue")).Groups[1].Value);

    private static string RunsOf(string info, string task) =>
        Regex.Match(info, $"task_{task}:sync,runs_on=([^\r]*)\r\n").Groups[1].Value;

    private static string Bulk(string text) => $"${Encoding.UTF8.GetByteCount(text)}\r\n{text}\r\n";

    private static string BulkText(string reply) => reply[(reply.IndexOf('\n') + 1)..^2];

    [GeneratedRegex(@"tasks_run_inline:(\d+)\r\n")]
    private static partial Regex InlineRunsLine();
}
