using System.Text;
using EventLoop.Client;
using EventLoop.Tests.Load;

namespace EventLoop.Tests.Client;

[Collection(LoadCollection.Name)]
public class EventLoopClientTests(RespServerFixture server)
{
    [Fact]
    public async Task Pipelined_concurrent_calls_each_get_their_own_reply()
    {
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);
        // 8 callers × 250 calls, all outstanding at once: replies must match calls one to one.
        Task<RespValue>[] calls = await Task.WhenAll(Enumerable.Range(0, 8).Select(caller => Task.Run(() =>
            Enumerable.Range(0, 250).Select(i => client.ExecuteAsync("ECHO", $"{caller}:{i}")).ToArray())))
            .ContinueWith(t => t.Result.SelectMany(c => c).ToArray());
        RespValue[] replies = await Task.WhenAll(calls);
        for (int caller = 0, n = 0; caller < 8; caller++)
            for (int i = 0; i < 250; i++, n++)
                Assert.Equal($"{caller}:{i}", replies[n].Text);
        Assert.Equal("PONG", await client.PingAsync());
    }

    [Fact]
    public async Task Binary_arguments_and_replies_round_trip()
    {
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);
        byte[] payload = [0, 13, 10, 255, 36, 42];
        RespValue reply = await client.ExecuteAsync([Encoding.ASCII.GetBytes("ECHO"), payload], CancellationToken.None);
        Assert.Equal(RespKind.BulkString, reply.Kind);
        Assert.Equal(payload, reply.Bytes.ToArray());
    }

    [Fact]
    public async Task Error_replies_are_values_from_ExecuteAsync_and_exceptions_from_the_helpers()
    {
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);
        RespValue reply = await client.ExecuteAsync("NO-SUCH-COMMAND");
        Assert.True(reply.IsError);
        Assert.StartsWith("ERR", reply.Text);
        var error = await Assert.ThrowsAsync<RespErrorException>(() => client.RunAsync("no-such-task"));
        Assert.Equal("ERR", error.Prefix);
        Assert.Equal("PONG", await client.PingAsync()); // the connection is still in step
    }

    [Fact]
    public async Task RunAsync_returns_the_task_result()
    {
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);
        Assert.Equal("hello"u8.ToArray(), await client.RunAsync("echo", "hello"));
        var failure = await Assert.ThrowsAsync<RespErrorException>(() => client.RunAsync("fail", "boom"));
        Assert.Contains("boom", failure.Message);
    }

    [Fact]
    public async Task Integer_and_array_replies_are_materialised()
    {
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);
        RespValue id = await client.ExecuteAsync("CLIENT", "ID");
        Assert.Equal(RespKind.Integer, id.Kind);
        Assert.True(id.IntegerValue > 0);
        RespValue config = await client.ExecuteAsync("CONFIG", "GET", "*");
        Assert.Equal(RespKind.Array, config.Kind);
        Assert.True(config.Elements.Count >= 2 && config.Elements.Count % 2 == 0, config.ToString());
        Assert.All(config.Elements, e => Assert.Equal(RespKind.BulkString, e.Kind));
    }

    [Fact]
    public async Task InfoAsync_returns_the_server_text()
    {
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", server.Port);
        Assert.Contains("uptime_in_seconds:", await client.InfoAsync("server"));
    }

    [Fact]
    public async Task A_lost_connection_fails_every_pending_call_and_every_later_call()
    {
        await using var faulty = new FaultyRespServer(new ServerFaults { NeverReply = true });
        var client = await EventLoopClient.ConnectAsync("127.0.0.1", faulty.Port);
        Task<RespValue>[] pending = [.. Enumerable.Range(0, 5).Select(_ => client.ExecuteAsync("PING"))];
        await faulty.DisposeAsync(); // closes every connection
        foreach (Task<RespValue> call in pending)
        {
            var failure = await Assert.ThrowsAsync<RespConnectionException>(() => call);
            Assert.Contains($"127.0.0.1:{faulty.Port}", failure.Message); // names the peer; the cause is FIN or RST
        }
        await Assert.ThrowsAsync<RespConnectionException>(() => client.PingAsync());
        await client.DisposeAsync();
    }

    [Fact]
    public async Task Dispose_fails_pending_calls()
    {
        await using var faulty = new FaultyRespServer(new ServerFaults { NeverReply = true });
        var client = await EventLoopClient.ConnectAsync("127.0.0.1", faulty.Port);
        Task<RespValue> call = client.ExecuteAsync("PING");
        await client.DisposeAsync();
        var failure = await Assert.ThrowsAsync<RespConnectionException>(() => call);
        Assert.Contains("disposed", failure.Message);
    }

    [Fact]
    public async Task A_cancelled_call_is_cancelled_and_its_late_reply_does_not_shift_the_others()
    {
        await using var faulty = new FaultyRespServer(new ServerFaults { SlowReplyDelay = TimeSpan.FromMilliseconds(300) });
        await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", faulty.Port);
        using var cancellation = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        Task<RespValue> slow = client.ExecuteAsync([Encoding.ASCII.GetBytes("SLOW")], cancellation.Token);
        Task<RespValue> next = client.ExecuteAsync("ECHO", "after");
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => slow);
        Assert.False(next.IsCompleted); // its reply waits behind the slow one on the wire
        Assert.Equal("after", (await next).Text);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => client.ExecuteAsync([Encoding.ASCII.GetBytes("PING")], new CancellationToken(canceled: true)));
        Assert.Equal("PONG", await client.PingAsync());
    }

    [Fact]
    public async Task Connecting_to_a_closed_port_throws_RespConnectionException()
    {
        int port = FaultyRespServer.UnusedPort();
        var failure = await Assert.ThrowsAsync<RespConnectionException>(() => EventLoopClient.ConnectAsync("127.0.0.1", port));
        Assert.Contains($"127.0.0.1:{port}", failure.Message);
    }
}
