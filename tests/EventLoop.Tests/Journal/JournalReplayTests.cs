using System.Text.RegularExpressions;
using EventLoop.Journal;
using EventLoop.Reactor;
using EventLoop.Tests.Server;
using Microsoft.Win32.SafeHandles;

namespace EventLoop.Tests.Journal;

/// <summary>
/// Every state transition, journaled, survives a restart exactly (STATUS of every task, QUEUES, SCHEDULE
/// LIST, DEAD LIST, KEY dedup); a rewrite leaves the same state, with live traffic during it too.
/// In-process servers over real sockets, on a journal in a temporary directory.
/// </summary>
public sealed class JournalReplayTests : IDisposable
{
    private const int SeekHole = 4; // lseek(2) on Linux: the next hole at or after the offset, or the end

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "eventloop-journal-replay-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }

    private ServerOptions Options(FsyncPolicy policy = FsyncPolicy.EverySecond) =>
        new() { AppendOnly = true, Dir = _dir, AppendFsync = policy, Workers = 2 };

    [Theory]
    [InlineData(FsyncPolicy.Always)]
    [InlineData(FsyncPolicy.EverySecond)]
    [InlineData(FsyncPolicy.No)]
    public async Task EveryTransitionSurvivesARestart(FsyncPolicy policy)
    {
        List<string> ids;
        string before;
        await using (var server = new TestServer(Options(policy)))
        {
            ids = DriveEveryTransition(server);
            before = Dump(server, ids);
        }
        await using (var restarted = new TestServer(Options(policy)))
        {
            Assert.Equal(before, Dump(restarted, ids));
            using RawConnection client = restarted.Connect();
            // KEY still deduplicates an unfinished task, and new ids are above every recovered one.
            Assert.Equal(ids[^1], Id(client.Call("SUBMIT", "ext", "QUEUE", "z", "KEY", "kk")));
            string fresh = Id(client.Call("SUBMIT", "ext", "QUEUE", "fresh"));
            Assert.All(ids.Where(i => !i.Contains('@')), old => Assert.True(long.Parse(fresh) > long.Parse(old)));
            Assert.Contains(restarted.Log, line => line.Contains("recovered"));
        }
    }

    [Fact]
    public async Task ATaskRunningAtTheStopComesBackAsANewAttempt()
    {
        string id;
        await using (var server = new TestServer(Options()))
        {
            using RawConnection worker = server.Connect();
            id = Id(worker.Call("SUBMIT", "ext", "QUEUE", "r"));
            Assert.Contains(id, worker.Call("FETCH", "FROM", "r"));
            // Stopped with the lease held: the journal says running.
        }
        await using (var restarted = new TestServer(Options()))
        {
            using RawConnection worker = restarted.Connect();
            string status = worker.Call("STATUS", id);
            Assert.Contains("queued", status);
            string fetched = worker.Call("FETCH", "FROM", "r");
            Assert.Contains(id, fetched);
            Assert.Contains(":2\r\n", fetched); // attempt 2
            Assert.Equal("+OK\r\n", worker.Call("ACK", id, "2", "done"));
        }
    }

    /// <summary>
    /// <c>--journal-wait</c> under always: a polling reactor yields while replies wait for the fsync, a sleeping one
    /// never yields; SUBMITs one at a time, some after a pause in which the polling reactor went back to sleep (no
    /// reply held), so that the SUBMIT after it must wake it, are each answered only once fsync'd, and all of them
    /// survive a restart.
    /// </summary>
    [Theory]
    [InlineData(JournalWaitMode.Poll)]
    [InlineData(JournalWaitMode.Sleep)]
    public async Task EveryAcknowledgedSubmitSurvivesWhetherTheReactorPollsOrSleepsForTheFsync(JournalWaitMode mode)
    {
        List<string> ids = [];
        await using (var server = new TestServer(Options(FsyncPolicy.Always) with { JournalWait = mode }))
        {
            using RawConnection client = server.Connect();
            for (int i = 0; i < 30; i++)
            {
                ids.Add(Id(client.Call("SUBMIT", "ext", "QUEUE", "w", "ARGS", $"t{i}")));
                // Acknowledged only once fsync'd: the journal has synced at least as far as it has written.
                Assert.Equal(Info(client, "journal_written_lsn"), Info(client, "journal_fsynced_lsn"));
                if (i % 10 == 9)
                    await Task.Delay(20);
            }
            Assert.Equal(mode == JournalWaitMode.Poll ? "poll" : "sleep", Info(client, "journal_wait"));
            long yields = long.Parse(Info(client, "journal_wait_yields"));
            if (mode == JournalWaitMode.Poll)
                Assert.True(yields > 0, "the polling reactor never yielded while an fsync ran");
            else
                Assert.Equal(0, yields);
        }
        await using (var restarted = new TestServer(Options(FsyncPolicy.Always)))
        {
            using RawConnection client = restarted.Connect();
            Assert.All(ids, id => Assert.Contains("queued", client.Call("STATUS", id)));
        }
    }

    [Fact]
    public void TheReactorPollsForTheJournalByItselfOnlyWhenItHasOneCpu()
    {
        Assert.True(new JournalWait(JournalWaitMode.Auto, processors: 1).Polls);
        Assert.False(new JournalWait(JournalWaitMode.Auto, processors: 2).Polls);
        Assert.True(new JournalWait(JournalWaitMode.Poll, processors: 2).Polls);
        Assert.False(new JournalWait(JournalWaitMode.Sleep, processors: 1).Polls);
    }

    [Fact]
    public async Task UnderAlwaysTheFileHoldsWrittenZerosAheadAndACrashCopyRecoversEveryTask()
    {
        string copy = Path.Combine(_dir, "crashed");
        List<string> ids = [];
        string before;
        long written;
        await using (var server = new TestServer(Options(FsyncPolicy.Always)))
        {
            using RawConnection client = server.Connect();
            for (int i = 0; i < 50; i++)
                ids.Add(Id(client.Call("SUBMIT", "ext", "QUEUE", "a", "ARGS", $"task{i}")));
            written = long.Parse(Info(client, "journal_file_size"));
            string path = Path.Combine(_dir, TaskJournal.FileName);
            long length = new FileInfo(path).Length;
            Assert.True(length > written, $"{length} bytes on disk, {written} written: nothing ahead");
            // Written, not merely allocated: fallocated space is a hole to SEEK_HOLE (an unwritten extent), and each
            // fdatasync into it would commit the extent's conversion.
            using (SafeFileHandle file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
            {
                long page = Environment.SystemPageSize;
                long firstWhole = (written + page - 1) / page * page;
                long hole = Tmds.Linux.LibC.lseek((int)file.DangerousGetHandle(), firstWhole, SeekHole);
                Assert.True(hole == length, $"a hole at {hole} of {length}: the space ahead is not written");
            }
            // After the check above: reading fallocated space would put its pages in the cache, where ext4 counts them as data.
            byte[] tail = File.ReadAllBytes(path)[(int)written..];
            Assert.All(tail, b => Assert.Equal(0, b));
            // The file as a crash would leave it: every record, then the unused zeros.
            Directory.CreateDirectory(copy);
            File.Copy(path, Path.Combine(copy, TaskJournal.FileName));
            before = Dump(server, ids);
        }
        Assert.Equal(written, new FileInfo(Path.Combine(_dir, TaskJournal.FileName)).Length); // a clean stop trims the zeros
        await using (var restarted = new TestServer(Options(FsyncPolicy.Always) with { Dir = copy }))
        {
            Assert.Equal(before, Dump(restarted, ids));
            Assert.DoesNotContain(restarted.Log, line => line.Contains("torn"));
        }
    }

    [Fact]
    public async Task RewriteLeavesTheSameStateAndDropsWhatIsGone()
    {
        List<string> ids;
        string before;
        long sizeBefore, sizeAfter;
        await using (var server = new TestServer(Options()))
        {
            ids = DriveEveryTransition(server);
            using RawConnection client = server.Connect();
            string tasksBefore = Info(client, "tasks");
            // Garbage for the rewrite to drop: tasks whose results expire at once.
            for (int round = 0; round < 20; round++)
            {
                for (int i = 0; i < 100; i++)
                    client.SendCommand("SUBMIT", "echo", "RESULT-TTL", "0", "ARGS", new string('x', 200));
                for (int i = 0; i < 100; i++)
                    client.ReadReply();
            }
            await WaitFor(() => Info(client, "tasks") == tasksBefore, "expired tasks gone");
            sizeBefore = long.Parse(Info(client, "journal_file_size"));
            Assert.StartsWith("+", client.Call("JOURNAL", "REWRITE"));
            await WaitFor(() => Info(client, "journal_rewrites") == "1", "rewrite done");
            sizeAfter = long.Parse(Info(client, "journal_file_size"));
            before = Dump(server, ids);
        }
        Assert.True(sizeAfter < sizeBefore / 4, $"rewrite kept {sizeAfter} of {sizeBefore} bytes");
        await using (var restarted = new TestServer(Options()))
            Assert.Equal(before, Dump(restarted, ids));
    }

    [Fact]
    public async Task RewriteWithLiveTrafficLeavesTheSameState()
    {
        var ids = new List<string>();
        string before;
        await using (var server = new TestServer(Options()))
        {
            using RawConnection client = server.Connect();
            using RawConnection worker = server.Connect();
            for (int round = 0; round < 40; round++)
            {
                for (int i = 0; i < 500; i++)
                    client.SendCommand("SUBMIT", "ext", "QUEUE", $"q{i % 7}", "PRIORITY", (i % 10).ToString(), "ARGS", $"a{round}-{i}");
                for (int i = 0; i < 500; i++)
                    ids.Add(Id(client.ReadReply()));
            }
            Assert.StartsWith("+", client.Call("DEBUG", "JOURNAL-REWRITE"));
            // While the snapshot is walked: new tasks, cancels, deliveries and settlements of old and new ones.
            var random = new Random(11);
            for (int step = 0; step < 300; step++)
            {
                ids.Add(Id(client.Call("SUBMIT", "ext", "QUEUE", "q1", "ARGS", $"live{step}")));
                client.Call("CANCEL", ids[random.Next(ids.Count)]);
                string fetched = worker.Call("FETCH", "FROM", $"q{step % 7}");
                Match delivery = Regex.Match(fetched, @"^\*1\r\n\*4\r\n\$\d+\r\n(\d+)\r\n:(\d+)");
                if (delivery.Success)
                    worker.Call(step % 2 == 0 ? "ACK" : "NACK", delivery.Groups[1].Value, delivery.Groups[2].Value);
            }
            await WaitFor(() => Info(client, "journal_rewrites") == "1", "rewrite done");
            before = Dump(server, ids);
        }
        await using (var restarted = new TestServer(Options()))
            Assert.Equal(before, Dump(restarted, ids));
    }

    /// <summary>Drives every transition the store journals; returns the ids, the keyed one last.</summary>
    private static List<string> DriveEveryTransition(TestServer server)
    {
        using RawConnection client = server.Connect();
        using RawConnection worker = server.Connect();
        var ids = new List<string>();
        string Submit(params string[] args)
        {
            string id = Id(client.Call(["SUBMIT", .. args]));
            ids.Add(id);
            return id;
        }
        string succeeded = Submit("echo", "ARGS", "hello");
        Assert.Equal("$5\r\nhello\r\n", client.Call("RESULT", succeeded, "TIMEOUT", "10000"));
        Submit("ext", "QUEUE", "w", "PRIORITY", "7", "ARGS", "queued", "");
        Submit("ext", "QUEUE", "w", "DELAY", "600000", "RETRIES", "2", "TIMEOUT", "5000", "RESULT-TTL", "99");
        string retrying = Submit("fail", "RETRIES", "3", "BACKOFF", "3600000", "ARGS", "boom");
        string dead = Submit("fail", "ARGS", "kaput");
        Assert.StartsWith("-FAILED", client.Call("RESULT", dead, "TIMEOUT", "10000"));
        for (int i = 0; i < 200 && !client.Call("STATUS", retrying).Contains("retrying"); i++)
            Thread.Sleep(10);
        string retried = Submit("ext", "QUEUE", "x");
        string dropped = Submit("ext", "QUEUE", "x");
        foreach (string id in new[] { retried, dropped })
        {
            Assert.Contains(id, worker.Call("FETCH", "FROM", "x"));
            Assert.Equal("+OK\r\n", worker.Call("FAIL", id, "1", "bad input", "NORETRY"));
        }
        Assert.Equal(":1\r\n", client.Call("DEAD", "RETRY", retried));
        Assert.Equal(":1\r\n", client.Call("DEAD", "DROP", dropped));
        string cancelled = Submit("ext", "QUEUE", "v", "DELAY", "600000");
        Assert.Equal(":1\r\n", client.Call("CANCEL", cancelled));
        using (RawConnection lost = server.Connect())
        {
            string held = Submit("ext", "QUEUE", "y");
            Assert.Contains(held, lost.Call("FETCH", "FROM", "y"));
        }
        string acked = Submit("ext", "QUEUE", "z");
        Assert.Contains(acked, worker.Call("FETCH", "FROM", "z"));
        Assert.Equal("+OK\r\n", worker.Call("ACK", acked, "1", "the result"));
        string nacked = Submit("ext", "QUEUE", "z");
        Assert.Contains(nacked, worker.Call("FETCH", "FROM", "z"));
        Assert.Equal("+OK\r\n", worker.Call("NACK", nacked, "1", "DELAY", "600000"));
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "hourly", "EVERY", "3600000", "ext", "QUEUE", "sched", "PRIORITY", "3", "ARGS", "h"));
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "nightly", "CRON", "0 3 * * *", "TZ", "Europe/Paris", "ext", "ARGS", "n"));
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "gone", "EVERY", "1000", "ext"));
        Assert.Equal(":1\r\n", client.Call("SCHEDULE", "DEL", "gone"));
        Assert.Equal("+OK\r\n", client.Call("QUEUE", "PAUSE", "paused"));
        Assert.Equal("+OK\r\n", client.Call("QUEUE", "PAUSE", "resumed"));
        Assert.Equal("+OK\r\n", client.Call("QUEUE", "RESUME", "resumed"));
        string keyed = Submit("ext", "QUEUE", "z", "KEY", "kk");
        Assert.Equal(keyed, Id(client.Call("SUBMIT", "ext", "QUEUE", "z", "KEY", "kk")));
        // Wait until the lost lease's requeue has happened (the connection's close is seen by the reactor).
        for (int i = 0; i < 200 && !client.Call("STATUS", ids[^4]).Contains("queued"); i++)
            Thread.Sleep(10);
        return ids;
    }

    /// <summary>What the server holds, as text: STATUS of every id, QUEUES, SCHEDULE LIST, DEAD LIST, and the results.</summary>
    private static string Dump(TestServer server, List<string> ids)
    {
        using RawConnection client = server.Connect();
        var text = new System.Text.StringBuilder();
        foreach (string id in ids)
        {
            text.Append(client.Call("STATUS", id));
            text.Append(client.Call("RESULT", id));
        }
        text.Append(client.Call("QUEUES"));
        text.Append(client.Call("SCHEDULE", "LIST"));
        text.Append(client.Call("DEAD", "LIST"));
        return text.ToString();
    }

    private static string Id(string reply)
    {
        Match bulk = Regex.Match(reply, @"^\$\d+\r\n(.+)\r\n$");
        Assert.True(bulk.Success, $"expected an id, got {reply}");
        return bulk.Groups[1].Value;
    }

    private static string Info(RawConnection client, string key)
    {
        Match line = Regex.Match(client.Call("INFO"), $@"\r\n{Regex.Escape(key)}:([^\r]*)\r\n");
        return line.Success ? line.Groups[1].Value : "";
    }

    private static async Task WaitFor(Func<bool> condition, string what)
    {
        for (int i = 0; i < 1000; i++)
        {
            if (condition())
                return;
            await Task.Delay(20);
        }
        Assert.Fail($"timed out waiting for: {what}");
    }
}
