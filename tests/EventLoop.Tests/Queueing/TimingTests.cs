using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using EventLoop.Client;
using EventLoop.Tests.Server;
using static EventLoop.Tests.Queueing.QueueKit;

namespace EventLoop.Tests.Queueing;

/// <summary>
/// Tests that measure time or count the process's threads run alone, so the other tests do not steal their cores
/// and their servers' threads do not show up in the count.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RunAloneCollection
{
    public const string Name = "Run alone";
}

/// <summary>Retry backoff, priority order and FIFO within a priority, measured from inside registered handlers.</summary>
[Collection(RunAloneCollection.Name)]
public sealed class TimingTests : IAsyncLifetime
{
    private readonly ConcurrentDictionary<string, ConcurrentQueue<long>> _attemptTimes = new();
    private readonly ConcurrentQueue<string> _order = new();
    private TestServer _server = null!;

    public Task InitializeAsync()
    {
        _server = new TestServer(new ServerOptions { Workers = 1 }, server => server.Tasks
            .Register("flaky", (args, _) =>
            {
                _attemptTimes.GetOrAdd(args.GetString(0), _ => new()).Enqueue(Stopwatch.GetTimestamp());
                throw new InvalidOperationException("flaky");
            })
            .Register("record", (args, result) =>
            {
                _order.Enqueue(args.GetString(0));
                result.Write("ok"u8);
            }));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public void Retries_back_off_100_200_400_ms_each_within_half_to_one_and_a_half_times()
    {
        using RawConnection client = _server.Connect();
        string id = client.Submit("flaky", "RETRIES", "3", "BACKOFF", "100", "ARGS", "backoff");
        Assert.Equal("-FAILED flaky\r\n", client.Result(id, 20_000));
        long[] times = [.. _attemptTimes["backoff"]];
        Assert.Equal(4, times.Length);
        TaskStatusInfo status = client.RequireStatus(id);
        Assert.Equal(4, status.Attempt);
        Assert.Equal("flaky", status.Error);
        int[] nominal = [100, 200, 400];
        var gaps = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            double gap = Stopwatch.GetElapsedTime(times[i], times[i + 1]).TotalMilliseconds;
            gaps.Add($"{gap:0}");
            // ½–1½× the nominal delay; a few ms early for timer rounding, 250 ms late for a loaded machine.
            Assert.True(gap >= nominal[i] * 0.5 - 5 && gap <= nominal[i] * 1.5 + 250,
                $"gap {i + 1} was {gap:0} ms, nominal {nominal[i]} ms (gaps: {string.Join(", ", gaps)})");
        }
        Assert.Equal(3, client.InfoNumber("retried_total"));
    }

    [Fact]
    public void Backoff_is_capped_and_a_huge_backoff_leaves_the_task_retrying()
    {
        using RawConnection client = _server.Connect();
        string id = client.Submit("flaky", "RETRIES", "1000000", "BACKOFF", "3600000", "ARGS", "capped");
        TaskStatusInfo status = client.AwaitState(id, TaskState.Retrying);
        long delay = status.RunAt!.Value.ToUnixTimeMilliseconds() - status.StartedAt!.Value.ToUnixTimeMilliseconds();
        Assert.InRange(delay, 1_800_000 - 1000, 3_600_000 + 1000); // ½× .. capped at 1 h
        Assert.Equal(":1\r\n", client.Call("CANCEL", id));
    }

    [Fact]
    public void Priority_9_runs_first_and_equal_priorities_run_in_submission_order()
    {
        using RawConnection client = _server.Connect();
        string queue = Unique("prio");
        client.Call("QUEUE", "PAUSE", queue);
        (string Name, int Priority)[] tasks =
            [("a0", 0), ("b9", 9), ("c5", 5), ("d0", 0), ("e9", 9), ("f5", 5), ("g0", 0), ("h1", 1), ("i9", 9)];
        var ids = tasks.Select(t => client.Submit("record", "QUEUE", queue, "PRIORITY", t.Priority.ToString(), "ARGS", t.Name)).ToArray();
        Assert.Equal(tasks.Length, client.Queues()[queue].Queued);
        Assert.Empty(_order);
        client.Call("QUEUE", "RESUME", queue);
        client.WaitAll(ids);
        Assert.Equal(["b9", "e9", "i9", "c5", "f5", "h1", "a0", "d0", "g0"], _order.ToArray());
        // STATUS agrees: started_ms never goes backwards along that order.
        long[] started = [.. new[] { 1, 4, 8, 2, 5, 7, 0, 3, 6 }.Select(i => client.RequireStatus(ids[i]).StartedAt!.Value.ToUnixTimeMilliseconds())];
        Assert.Equal(started.Order(), started);
    }

    [Fact]
    public void A_hundred_tasks_of_one_priority_run_in_submission_order()
    {
        using RawConnection client = _server.Connect();
        string queue = Unique("fifo");
        client.Call("QUEUE", "PAUSE", queue);
        string[] ids = [.. Enumerable.Range(0, 100).Select(i => client.Submit("record", "QUEUE", queue, "PRIORITY", "3", "ARGS", $"fifo{i}"))];
        client.Call("QUEUE", "RESUME", queue);
        client.WaitAll(ids);
        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"fifo{i}"), _order.Where(n => n.StartsWith("fifo")));
    }
}
