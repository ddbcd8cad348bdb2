using EventLoop.Tests.Server;
using EventLoop.Tests.Support;
using System.Text.RegularExpressions;
using Npgsql;
using static EventLoop.Tests.Queueing.QueueKit;

namespace EventLoop.Tests.Postgres;

/// <summary>A database that stops answering: what waits for it is bounded, and nothing waiting is lost.</summary>
[Collection(nameof(PostgresCollection))]
public sealed class PostgresBackpressureTests(PostgresCluster cluster)
{
    private const int MaxInflight = 64;
    private const int Burst = 5_000;

    [Fact]
    public async Task A_stalled_database_stops_reading_a_connection_at_max_inflight_and_answers_every_request_once_it_moves()
    {
        string database = cluster.NewDatabase();
        await using var server = new TestServer(new ServerOptions { Store = database, MaxInflight = MaxInflight });
        using RawConnection client = server.Connect();
        using RawConnection observer = server.Connect();
        string before = client.Submit("resize", "QUEUE", "bp");

        // Another session holds the table: every statement of the store waits, as behind a long migration or a hung primary.
        await using var blocker = new NpgsqlConnection(
            $"Host=127.0.0.1;Port={cluster.Port};Username=postgres;Database={database[(database.LastIndexOf('/') + 1)..]};Pooling=false");
        await blocker.OpenAsync();
        NpgsqlTransaction hold = await blocker.BeginTransactionAsync();
        await using (var lockTable = new NpgsqlCommand("LOCK TABLE eventloop_tasks IN ACCESS EXCLUSIVE MODE", blocker, hold))
            await lockTable.ExecuteNonQueryAsync();

        var burst = new List<byte>();
        for (int i = 0; i < Burst; i++)
            burst.AddRange(RawConnection.Encode("SUBMIT", "resize", "QUEUE", "bp", "ARGS", $"v{i}"));
        Task sending = Task.Run(() => client.Send([.. burst])); // may block once the server stops reading

        // The connection is read until it has MaxInflight requests waiting, and then not at all while they wait.
        DateTime deadline = DateTime.UtcNow.AddSeconds(20);
        while (!Regex.IsMatch(observer.Call("INFO", "queue"), @"inflight_pauses:[1-9]\d*\r\n"))
        {
            Assert.True(DateTime.UtcNow < deadline, "the connection was never paused");
            Thread.Sleep(10);
        }
        long parked = observer.InfoNumber("parked_requests");
        Thread.Sleep(500);
        Assert.InRange(parked, 1, MaxInflight);
        Assert.Equal(parked, observer.InfoNumber("parked_requests"));

        await hold.RollbackAsync();
        string[] ids = [.. Enumerable.Range(0, Burst).Select(_ => Parse(client.ReadReply(TimeSpan.FromSeconds(30))).Text!)];
        await sending;
        Assert.Equal(Burst, ids.Distinct().Count());
        Assert.DoesNotContain(before, ids);
        Assert.All(ids, id => Assert.Matches("^[1-9][0-9]*$", id));
        Assert.Equal("queued", client.RequireStatus(ids[^1]).State.ToString().ToLowerInvariant());
        Assert.Equal(0, observer.InfoNumber("parked_requests"));
    }
}
