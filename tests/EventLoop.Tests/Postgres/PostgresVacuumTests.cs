using EventLoop.Tests.Server;
using Npgsql;
using static EventLoop.Tests.Queueing.QueueKit;

namespace EventLoop.Tests.Postgres;

/// <summary>The node that leads vacuums the tasks table itself once enough rows died, without waiting for autovacuum.</summary>
[Collection(nameof(PostgresCollection))]
public sealed class PostgresVacuumTests(PostgresCluster cluster)
{
    private const int Tasks = 12_000;
    private const int Pipelined = 500;

    /// <summary>
    /// 12,000 lifecycles leave 12,000 dead row versions (each settlement's: a task stored claimed is updated once), past
    /// the 10,000 that start a vacuum: INFO counts one, PostgreSQL's own statistics show it on the table, and the dead
    /// rows are gone. Every task still answers its result afterwards.
    /// </summary>
    [Fact]
    public async Task The_leading_node_vacuums_the_tasks_table_once_enough_rows_died()
    {
        string database = cluster.NewDatabase();
        await using var server = new TestServer(new ServerOptions { Store = database });
        using RawConnection client = server.Connect();
        List<string> ids = RunLifecycles(client);
        await WaitForVacuums(client, 1);
        Assert.True(long.Parse(PostgresNodesTests.StoreInfo(client)["store_last_vacuum_us"]) > 0);
        Assert.True((long)cluster.Execute(database, "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'eventloop_tasks'")! >= 1);
        Assert.True(DeadRows(database) < 10_000);
        Assert.Equal(Bulk("v0"), client.Result(ids[0], 1000));
        Assert.Equal(Bulk($"v{Tasks - 1}"), client.Result(ids[^1], 1000));
    }

    /// <summary>
    /// A transaction older than the dead rows keeps VACUUM from removing them: the node says which session, backs off
    /// instead of scanning the table again every second, and removes them once that transaction ends.
    /// </summary>
    [Fact]
    public async Task A_vacuum_held_back_by_an_old_snapshot_names_it_and_backs_off_until_it_ends()
    {
        string database = cluster.NewDatabase();
        await using var server = new TestServer(new ServerOptions { Store = database });
        using RawConnection client = server.Connect();
        using NpgsqlConnection old = cluster.Open(database);
        using NpgsqlTransaction snapshot = old.BeginTransaction(System.Data.IsolationLevel.RepeatableRead);
        using (var look = new NpgsqlCommand("SELECT count(*) FROM eventloop_tasks", old, snapshot))
            look.ExecuteScalar(); // the snapshot is taken: every row version made after it stays visible to it
        RunLifecycles(client);
        await WaitForVacuums(client, 1);
        Thread.Sleep(3500); // without the back-off: a vacuum a second
        Assert.InRange(long.Parse(PostgresNodesTests.StoreInfo(client)["store_vacuums"]), 1, 2);
        Assert.Single(server.Log, line => line.Contains("VACUUM of eventloop_tasks left") && line.Contains($"pid {old.ProcessID} (idle in transaction"));
        Assert.True(DeadRows(database) >= 10_000);

        snapshot.Commit();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (DeadRows(database) >= 10_000)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "the dead rows were never removed once the snapshot ended");
            await Task.Delay(200);
        }
    }

    /// <summary>SUBMIT and RESULT of <see cref="Tasks"/> echoes, <see cref="Pipelined"/> at a time.</summary>
    private static List<string> RunLifecycles(RawConnection client)
    {
        var ids = new List<string>(Tasks);
        for (int done = 0; done < Tasks; done += Pipelined)
        {
            client.Send(Enumerable.Range(done, Pipelined).SelectMany(i => RawConnection.Encode("SUBMIT", "echo", "ARGS", $"v{i}")).ToArray());
            for (int i = 0; i < Pipelined; i++)
                ids.Add(Parse(client.ReadReply()).Text!);
            client.Send(ids.Skip(done).SelectMany(id => RawConnection.Encode("RESULT", id, "TIMEOUT", "20000")).ToArray());
            for (int i = done; i < done + Pipelined; i++)
                Assert.Equal(Bulk($"v{i}"), client.ReadReply(TimeSpan.FromSeconds(40)));
        }
        return ids;
    }

    private static async Task WaitForVacuums(RawConnection client, long atLeast)
    {
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (long.Parse(PostgresNodesTests.StoreInfo(client)["store_vacuums"]) < atLeast)
        {
            Assert.True(DateTime.UtcNow < deadline, $"no vacuum within a minute of {Tasks} dead rows");
            await Task.Delay(200);
        }
    }

    private long DeadRows(string database) =>
        (long)cluster.Execute(database, "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'eventloop_tasks'")!;
}
