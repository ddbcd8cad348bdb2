using System.Text;
using EventLoop.Client;
using EventLoop.Tests.Server;
using Xunit;

namespace EventLoop.Tests.Client;

/// <summary>
/// The client's worker path against a real server over loopback: FETCH replies parsed straight into tasks, ACKs
/// encoded straight into the send buffer, a batch's ACKs pipelined with the next FETCH.
/// </summary>
public class WorkerClientTests
{
    private static async Task<string> SubmitAsync(EventLoopClient client, IReadOnlyList<ReadOnlyMemory<byte>> arguments, string queue = "default") =>
        await client.SubmitAsync("job", new SubmitOptions { Queue = queue }, arguments);

    [Fact]
    public async Task Fetched_arguments_arrive_byte_for_byte_including_empty_binary_and_larger_than_the_receive_buffer()
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);
        byte[] binary = [0, 13, 10, 255, 36, 42, 13, 10];
        byte[] large = new byte[200 * 1024]; // over the client's 64 KiB receive buffer: the reply spans several reads
        new Random(7).NextBytes(large);
        string first = await SubmitAsync(client, [binary, Array.Empty<byte>(), "ü"u8.ToArray()]);
        string second = await SubmitAsync(client, []);
        string third = await SubmitAsync(client, [large]);

        IReadOnlyList<FetchedTask> fetched = await client.FetchAsync(["default"], count: 10);

        Assert.Equal([first, second, third], fetched.Select(t => t.Id));
        Assert.All(fetched, t => Assert.Equal(("job", 1L), (t.Task, t.Attempt)));
        Assert.Equal(new byte[][] { binary, [], "ü"u8.ToArray() }, fetched[0].Arguments.Select(a => a.ToArray()));
        Assert.Empty(fetched[1].Arguments);
        Assert.Equal(large, fetched[2].Arguments.Single().ToArray());
        Assert.Same(fetched[0].Task, fetched[2].Task); // the name is decoded once per connection
    }

    [Fact]
    public async Task A_batch_of_acks_reports_each_outcome_in_order_and_the_right_attempts_settle()
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);
        string[] ids = await Task.WhenAll(Enumerable.Range(0, 5).Select(i => SubmitAsync(client, [Encoding.UTF8.GetBytes($"n{i}")])));
        IReadOnlyList<FetchedTask> fetched = await client.FetchAsync(["default"], count: 5);

        DeliveryOutcome[] outcomes = await client.AckManyAsync(
        [
            (fetched[0], "r0"u8.ToArray()),
            (fetched[1] with { Attempt = 7 }, "wrong attempt"u8.ToArray()),
            (fetched[2] with { Id = "999999" }, "unknown id"u8.ToArray()),
            (fetched[3], ReadOnlyMemory<byte>.Empty),
            (fetched[4], fetched[4].Arguments[0]),
        ]);

        Assert.Equal([DeliveryOutcome.Accepted, DeliveryOutcome.Stale, DeliveryOutcome.Stale, DeliveryOutcome.Accepted, DeliveryOutcome.Accepted], outcomes);
        Assert.Equal("r0", (await client.ExecuteAsync("RESULT", ids[0])).Text);
        Assert.Equal("", (await client.ExecuteAsync("RESULT", ids[3])).Text);
        Assert.Equal("n4", (await client.ExecuteAsync("RESULT", ids[4])).Text);
        Assert.Equal("PENDING running", (await client.ExecuteAsync("RESULT", ids[1])).Text); // a stale ACK changed nothing
        Assert.Equal(DeliveryOutcome.Accepted, await client.AckAsync(fetched[1], "late but right"u8.ToArray()));
    }

    [Fact]
    public async Task A_refused_result_faults_the_batch_while_the_others_settle_and_the_connection_stays_in_step()
    {
        await using var server = new TestServer(new ServerOptions { MaxResultBytes = 10 });
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);
        string[] ids = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => SubmitAsync(client, [])));
        IReadOnlyList<FetchedTask> fetched = await client.FetchAsync(["default"], count: 3);

        var refused = await Assert.ThrowsAsync<RespErrorException>(() => client.AckManyAsync(
            [(fetched[0], "ok"u8.ToArray()), (fetched[1], new byte[11]), (fetched[2], "ok too"u8.ToArray())]));

        Assert.StartsWith("ERR result of 11 bytes exceeds max-result-bytes", refused.Message);
        Assert.Equal("PONG", await client.PingAsync());
        Assert.Equal("ok", (await client.ExecuteAsync("RESULT", ids[0])).Text);
        Assert.Equal("ok too", (await client.ExecuteAsync("RESULT", ids[2])).Text);
    }

    [Fact]
    public async Task Acks_pipelined_with_the_next_fetch_drain_a_queue_with_every_task_settled_once()
    {
        await using var server = new TestServer();
        await using EventLoopClient producer = await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);
        string[] ids = await Task.WhenAll(Enumerable.Range(0, 1000).Select(i => SubmitAsync(producer, [Encoding.UTF8.GetBytes($"t{i}")], "drain")));

        // Three workers, each sending a batch's ACKs and its next FETCH together before waiting for either.
        int[] settled = await Task.WhenAll(Enumerable.Range(0, 3).Select(async _ =>
        {
            await using EventLoopClient worker = await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);
            int accepted = 0;
            IReadOnlyList<FetchedTask> batch = await worker.FetchAsync(["drain"], count: 64);
            while (batch.Count > 0)
            {
                Task<DeliveryOutcome[]> acks = worker.AckManyAsync([.. batch.Select(t => (t, t.Arguments[0]))]);
                Task<IReadOnlyList<FetchedTask>> next = worker.FetchAsync(["drain"], count: 64);
                accepted += (await acks).Count(o => o == DeliveryOutcome.Accepted);
                batch = await next;
            }
            return accepted;
        }));

        Assert.Equal(1000, settled.Sum());
        RespValue results = await producer.ExecuteAsync(["WAIT", "10000", .. ids]);
        Assert.Equal(1000, results.IntegerValue);
        for (int i = 0; i < ids.Length; i += 97)
            Assert.Equal($"t{i}", (await producer.ExecuteAsync("RESULT", ids[i])).Text);
    }

    [Fact]
    public async Task A_cancelled_blocking_fetch_gives_up_its_reply_and_the_calls_behind_it_keep_theirs()
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);
        using var cancel = new CancellationTokenSource();

        Task<IReadOnlyList<FetchedTask>> blocked = client.FetchAsync(["idle"], block: TimeSpan.FromMilliseconds(300), cancellationToken: cancel.Token);
        Task<string> behind = client.PingAsync();
        cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => blocked);
        Assert.Equal("PONG", await behind.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Empty(await client.FetchAsync(["idle"]));
    }

    [Fact]
    public async Task A_refused_fetch_throws_and_a_lost_connection_fails_every_waiting_call()
    {
        await using var server = new TestServer();
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);
        await Assert.ThrowsAsync<RespErrorException>(() => client.FetchAsync(["q"], count: 0));

        Task<IReadOnlyList<FetchedTask>> parked = client.FetchAsync(["q"], block: TimeSpan.Zero); // BLOCK 0: no limit
        Task<DeliveryOutcome> behind = client.AckAsync(new FetchedTask("1", 1, "job", []), ReadOnlyMemory<byte>.Empty);
        await client.DisposeAsync();

        await Assert.ThrowsAsync<RespConnectionException>(() => parked);
        await Assert.ThrowsAsync<RespConnectionException>(() => behind);
        await Assert.ThrowsAsync<RespConnectionException>(() => client.AckManyAsync([(new FetchedTask("1", 1, "job", []), ReadOnlyMemory<byte>.Empty)]));
    }
}
