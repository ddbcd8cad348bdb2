using System.Text;
using EventLoop.Client;
using EventLoop.Tests.Server;
using Xunit;

namespace EventLoop.Tests.Client;

/// <summary>The .NET worker against a real server over loopback: fetch, run, renew, settle, drain.</summary>
/// <remarks>
/// Run alone: lease renewal is a timer on the thread pool, which tests running beside it can starve for longer than
/// a lease (a worker that cannot TOUCH in time does lose its lease: the server is right to requeue then).
/// </remarks>
[Collection(EventLoop.Tests.Queueing.RunAloneCollection.Name)]
public class TaskWorkerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static async Task<string> SubmitAsync(EventLoopClient client, params string[] words)
    {
        RespValue reply = await client.ExecuteAsync(["SUBMIT", .. words]);
        Assert.False(reply.IsError, reply.Text);
        return reply.Text!;
    }

    private static async Task<RespValue> ResultAsync(EventLoopClient client, string id) =>
        await client.ExecuteAsync("RESULT", id, "TIMEOUT", "20000");

    [Fact]
    public async Task A_worker_runs_every_task_once_and_acks_its_result()
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);
        string[] ids = await Task.WhenAll(Enumerable.Range(0, 300).Select(i => SubmitAsync(client, "reverse", "QUEUE", "w", "ARGS", $"task{i}")));
        int calls = 0;
        var worker = new TaskWorker("127.0.0.1", server.Port, new TaskWorkerOptions { Queues = ["w"], Concurrency = 8 })
            .Handle("reverse", (task, _) =>
            {
                Interlocked.Increment(ref calls);
                return Task.FromResult<ReadOnlyMemory<byte>>(task.Arguments[0].ToArray().Reverse().ToArray());
            });
        using var stop = new CancellationTokenSource();
        Task running = worker.RunAsync(stop.Token);

        RespValue finished = await client.ExecuteAsync(["WAIT", "20000", .. ids]);
        Assert.Equal(300, finished.IntegerValue);
        for (int i = 0; i < ids.Length; i += 37)
            Assert.Equal(new string($"task{i}".Reverse().ToArray()), (await ResultAsync(client, ids[i])).Text);
        stop.Cancel();
        await running.WaitAsync(Patience);
        Assert.Equal(300, calls);
        Assert.Equal(300, worker.Settled);
    }

    [Fact]
    public async Task A_handler_that_throws_fails_the_attempt_with_its_message()
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);
        string id = await SubmitAsync(client, "broken", "RETRIES", "1", "BACKOFF", "10");
        var worker = new TaskWorker("127.0.0.1", server.Port)
            .Handle("broken", (task, _) => throw new InvalidOperationException($"no luck on attempt {task.Attempt}"));
        using var stop = new CancellationTokenSource();
        Task running = worker.RunAsync(stop.Token);

        RespValue result = await ResultAsync(client, id);
        Assert.True(result.IsError);
        Assert.Equal("FAILED no luck on attempt 2", result.Text);
        stop.Cancel();
        await running.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_long_task_keeps_its_short_lease_by_renewing_it()
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);
        string id = await SubmitAsync(client, "slow");
        // Renewed every third of the lease: a TOUCH may come a whole lease late on a loaded machine before this fails.
        var worker = new TaskWorker("127.0.0.1", server.Port, new TaskWorkerOptions { Lease = TimeSpan.FromMilliseconds(1500) })
            .Handle("slow", async (task, cancel) =>
            {
                await Task.Delay(4000, cancel);
                return Encoding.UTF8.GetBytes($"attempt {task.Attempt}");
            });
        using var stop = new CancellationTokenSource();
        Task running = worker.RunAsync(stop.Token);

        Assert.Equal("attempt 1", (await ResultAsync(client, id)).Text); // almost three lease lengths, one delivery
        stop.Cancel();
        await running.WaitAsync(Patience);
    }

    [Fact]
    public async Task One_renewal_loop_keeps_every_running_task_leased()
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);
        string[] ids = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => SubmitAsync(client, "slow")));
        var worker = new TaskWorker("127.0.0.1", server.Port, new TaskWorkerOptions { Concurrency = 16, Lease = TimeSpan.FromMilliseconds(1500) })
            .Handle("slow", async (task, cancel) =>
            {
                await Task.Delay(4000, cancel);
                return Encoding.UTF8.GetBytes($"attempt {task.Attempt}");
            });
        using var stop = new CancellationTokenSource();
        Task running = worker.RunAsync(stop.Token);

        foreach (string id in ids)
            Assert.Equal("attempt 1", (await ResultAsync(client, id)).Text); // all held for almost three leases, none lost
        Assert.Contains("external_lease_expiries:0", await client.InfoAsync("workers"));
        stop.Cancel();
        await running.WaitAsync(Patience);
    }

    [Fact]
    public async Task Cancelling_a_task_reaches_the_running_handler()
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);
        string id = await SubmitAsync(client, "forever");
        var started = new TaskCompletionSource();
        var sawCancellation = new TaskCompletionSource();
        var worker = new TaskWorker("127.0.0.1", server.Port, new TaskWorkerOptions { Lease = TimeSpan.FromMilliseconds(300) })
            .Handle("forever", async (_, cancel) =>
            {
                started.SetResult();
                try
                {
                    await Task.Delay(Timeout.Infinite, cancel);
                }
                catch (OperationCanceledException)
                {
                    sawCancellation.SetResult();
                    throw;
                }
                return ReadOnlyMemory<byte>.Empty;
            });
        using var stop = new CancellationTokenSource();
        Task running = worker.RunAsync(stop.Token);
        await started.Task.WaitAsync(Patience);

        Assert.Equal(1, (await client.ExecuteAsync("CANCEL", id)).IntegerValue);
        await sawCancellation.Task.WaitAsync(Patience); // the next TOUCH answered -CANCELLED
        Assert.Equal("CANCELLED", (await ResultAsync(client, id)).Text);
        stop.Cancel();
        await running.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_stop_finishes_running_handlers_and_leaves_nothing_leased()
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);
        string[] ids = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => SubmitAsync(client, "nap")));
        var allStarted = new CountdownEvent(4);
        var worker = new TaskWorker("127.0.0.1", server.Port, new TaskWorkerOptions { Concurrency = 4 })
            .Handle("nap", async (_, _) =>
            {
                allStarted.Signal();
                await Task.Delay(300);
                return "rested"u8.ToArray();
            });
        using var stop = new CancellationTokenSource();
        Task running = worker.RunAsync(stop.Token);
        Assert.True(allStarted.Wait(Patience));

        stop.Cancel();
        await running.WaitAsync(Patience);
        foreach (string id in ids)
            Assert.Equal("rested", (await ResultAsync(client, id)).Text);
        string workers = await client.InfoAsync("workers");
        Assert.Contains("external_leased_tasks:0", workers);
    }
}
