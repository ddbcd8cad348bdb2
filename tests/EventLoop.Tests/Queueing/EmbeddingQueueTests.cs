using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using EventLoop.Tests.Server;
using static EventLoop.Tests.Queueing.QueueKit;
using ServerTaskState = EventLoop.Queueing.TaskState;
using WireTaskState = EventLoop.Client.TaskState;
using ServerTaskStatus = EventLoop.Queueing.TaskStatusInfo;

namespace EventLoop.Tests.Queueing;

/// <summary>
/// The embedding API (wire-spec.md "Embedding"): <c>server.Queue</c> submits, reads, awaits and cancels tasks
/// without a socket, sharing one queue with the wire; handlers see <c>args.Attempt</c> and <c>args.CancellationToken</c>.
/// </summary>
public sealed class EmbeddingQueueTests : IAsyncLifetime
{
    private readonly ConcurrentQueue<int> _attempts = new();
    private readonly TaskCompletionSource<bool> _holdCancelled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TestServer _server = null!;

    public Task InitializeAsync()
    {
        _server = new TestServer(registerTasks: server => server.Tasks
            .Register("third-time", (args, result) =>
            {
                _attempts.Enqueue(args.Attempt);
                if (args.Attempt < 3)
                    throw new InvalidOperationException($"attempt {args.Attempt} fails");
                result.Write(Encoding.UTF8.GetBytes($"succeeded on {args.Attempt}"));
            })
            .Register("hold", async (args, result, _) =>
            {
                try
                {
                    await Task.Delay(Timeout.Infinite, args.CancellationToken);
                }
                catch (OperationCanceledException)
                {
                    _holdCancelled.TrySetResult(args.CancellationToken.IsCancellationRequested);
                    throw;
                }
                result.Write("never"u8);
            }));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private EventLoop.Queueing.ServerQueue Queue => _server.Server.Queue;

    [Fact]
    public async Task Submit_status_and_result_from_csharp_share_the_queue_with_the_wire()
    {
        string id = await Queue.SubmitAsync("echo", "from c#");
        Assert.Matches("^[0-9]+$", id);
        Assert.Equal("from c#"u8.ToArray(), await Queue.ResultAsync(id, TimeSpan.FromSeconds(20)));
        ServerTaskStatus status = (await Queue.StatusAsync(id))!;
        Assert.Equal((id, "echo", "default", ServerTaskState.Succeeded, 1, 0), (status.Id, status.Task, status.Queue, status.State, status.Attempt, status.Priority));
        Assert.NotNull(status.FinishedAt);
        Assert.Null(status.Error);

        using RawConnection client = _server.Connect();
        Assert.Equal(Bulk("from c#"), client.Call("RESULT", id));
        string wireId = client.Submit("echo", "ARGS", "from the wire");
        Assert.Equal("from the wire"u8.ToArray(), await Queue.ResultAsync(wireId, TimeSpan.FromSeconds(20)));
        Assert.Null(await Queue.StatusAsync("no-such-id"));
    }

    [Fact]
    public async Task Submits_from_many_threads_at_once_all_get_unique_ids_and_run()
    {
        string[][] batches = await Task.WhenAll(Enumerable.Range(0, 8).Select(thread => Task.Run(async () =>
        {
            var ids = new string[500];
            for (int i = 0; i < ids.Length; i++)
                ids[i] = await Queue.SubmitAsync("echo", $"{thread}:{i}");
            return ids;
        })));
        string[] all = [.. batches.SelectMany(b => b)];
        Assert.Equal(4000, all.Distinct().Count());
        using RawConnection client = _server.Connect();
        Assert.Equal(4000, client.Wait(all));
        Assert.Equal("7:499"u8.ToArray(), await Queue.ResultAsync(batches[7][499]));
    }

    [Fact]
    public async Task Submit_options_from_csharp()
    {
        using RawConnection client = _server.Connect();
        client.Call("QUEUE", "PAUSE", "embedded");
        string id = await Queue.SubmitAsync("echo", [(ReadOnlyMemory<byte>)new byte[] { 0, 255 }],
            new EventLoop.Queueing.TaskSubmitOptions { Queue = "embedded", Priority = 8, Key = "emb-key" });
        Assert.Equal(id, await Queue.SubmitAsync("echo", [(ReadOnlyMemory<byte>)"x"u8.ToArray()],
            new EventLoop.Queueing.TaskSubmitOptions { Key = "emb-key" }));
        ServerTaskStatus status = (await Queue.StatusAsync(id))!;
        Assert.Equal(("embedded", 8, ServerTaskState.Queued), (status.Queue, status.Priority, status.State));
        await Assert.ThrowsAsync<TimeoutException>(() => Queue.ResultAsync(id, TimeSpan.FromMilliseconds(100)));
        client.Call("QUEUE", "RESUME", "embedded");
        Assert.Equal(new byte[] { 0, 255 }, await Queue.ResultAsync(id, TimeSpan.FromSeconds(20)));

        string delayed = await Queue.SubmitAsync("echo", [(ReadOnlyMemory<byte>)"d"u8.ToArray()],
            new EventLoop.Queueing.TaskSubmitOptions { Delay = TimeSpan.FromMinutes(10) });
        Assert.Equal(WireTaskState.Scheduled, client.State(delayed));
        Assert.True(await Queue.CancelAsync(delayed));
        Assert.False(await Queue.CancelAsync(delayed));
        await Assert.ThrowsAsync<EventLoop.Queueing.TaskCancelledException>(() => Queue.ResultAsync(delayed));
    }

    [Fact]
    public async Task A_handler_sees_its_attempt_number()
    {
        using RawConnection client = _server.Connect();
        string id = client.Submit("third-time", "RETRIES", "5", "BACKOFF", "1");
        Assert.Equal(Bulk("succeeded on 3"), client.Result(id, 20_000));
        Assert.Equal([1, 2, 3], _attempts.ToArray());
        ServerTaskStatus status = (await Queue.StatusAsync(id))!;
        Assert.Equal((3, "attempt 2 fails"), (status.Attempt, status.Error));
    }

    [Fact]
    public void A_parked_result_and_wait_see_the_final_outcome_not_a_failed_attempt()
    {
        using RawConnection client = _server.Connect();
        using RawConnection waiter = _server.Connect();
        string id = client.Submit("third-time", "RETRIES", "5", "BACKOFF", "200");
        client.SendCommand("RESULT", id, "TIMEOUT", "0");
        waiter.SendCommand("WAIT", "0", id);
        Assert.Equal(Bulk("succeeded on 3"), client.ReadReply(TimeSpan.FromSeconds(30)));
        Assert.Equal(":1\r\n", waiter.ReadReply(TimeSpan.FromSeconds(30)));
        Assert.Equal([1, 2, 3], _attempts.ToArray());
        Assert.Equal(WireTaskState.Succeeded, client.State(id));
    }

    [Fact]
    public async Task Cancel_from_csharp_cancels_the_handlers_token()
    {
        string id = await Queue.SubmitAsync("hold");
        using RawConnection client = _server.Connect();
        client.AwaitState(id, WireTaskState.Running);
        Assert.True(await Queue.CancelAsync(id));
        Assert.True(await _holdCancelled.Task.WaitAsync(TimeSpan.FromSeconds(20)));
        await Assert.ThrowsAsync<EventLoop.Queueing.TaskCancelledException>(() => Queue.ResultAsync(id, TimeSpan.FromSeconds(20)));
        Assert.Equal("-CANCELLED\r\n", client.Call("RESULT", id));
        Assert.False(await Queue.CancelAsync(id));
    }

    [Fact]
    public async Task A_timeout_cancels_the_handlers_token_and_fails_the_attempt()
    {
        using RawConnection client = _server.Connect();
        string id = client.Submit("hold", "TIMEOUT", "200");
        Assert.True(await _holdCancelled.Task.WaitAsync(TimeSpan.FromSeconds(20)));
        var failure = await Assert.ThrowsAsync<EventLoop.Queueing.TaskFailedException>(() => Queue.ResultAsync(id, TimeSpan.FromSeconds(20)));
        Assert.Equal("timed out after 200 ms", failure.Message);
    }

    [Fact]
    public async Task Outcomes_from_csharp_are_typed_exceptions()
    {
        string failed = await Queue.SubmitAsync("fail", "embedded boom");
        var failure = await Assert.ThrowsAsync<EventLoop.Queueing.TaskFailedException>(() => Queue.ResultAsync(failed, TimeSpan.FromSeconds(20)));
        Assert.Equal(("embedded boom", failed), (failure.Message, failure.Id));
        await Assert.ThrowsAsync<EventLoop.Queueing.TaskNotFoundException>(() => Queue.ResultAsync("no-such-id"));
        await Assert.ThrowsAsync<EventLoop.Queueing.TaskNotFoundException>(() => Queue.CancelAsync("no-such-id"));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Queue.SubmitAsync("echo", [], new EventLoop.Queueing.TaskSubmitOptions { Priority = 10 }));
    }

    [Fact]
    public async Task Submit_from_csharp_past_max_tasks_is_refused()
    {
        await using var small = new TestServer(new ServerOptions { MaxTasks = 1 });
        await small.Server.Queue.SubmitAsync("echo", [(ReadOnlyMemory<byte>)"x"u8.ToArray()],
            new EventLoop.Queueing.TaskSubmitOptions { Delay = TimeSpan.FromHours(1) });
        var full = await Assert.ThrowsAsync<EventLoop.Queueing.QueueFullException>(() => small.Server.Queue.SubmitAsync("echo", "x"));
        Assert.Equal("max-tasks (1) reached", full.Message);
    }
}
