using EventLoop.Tests.Server;
using static EventLoop.Tests.Queueing.QueueKit;

namespace EventLoop.Tests.Postgres;

/// <summary>
/// A PostgreSQL node that stops gracefully (a rolling restart) waits for its in-process runs and settles them, as the
/// in-memory store waits for its own; past the shutdown deadline it gives the rest back to their queues at once,
/// instead of leaving them running under its name until their leases expire.
/// </summary>
[Collection(nameof(PostgresCollection))]
public sealed class PostgresStopTests(PostgresCluster cluster)
{
    [Fact]
    public async Task A_stopping_node_finishes_and_settles_its_in_process_runs_before_it_stops()
    {
        string database = cluster.NewDatabase();
        string id = await StopWhileRunning(database, "1500", TimeSpan.FromSeconds(20));
        Assert.Equal("4 1", Row(database, id)); // succeeded, by its one attempt
    }

    [Fact]
    public async Task Past_the_shutdown_deadline_a_stopping_node_gives_its_runs_back_and_another_node_runs_them_at_once()
    {
        string database = cluster.NewDatabase();
        string id = await StopWhileRunning(database, "60000", TimeSpan.FromMilliseconds(300));
        Assert.Equal("1 1", Row(database, id)); // ready again, its cancelled attempt not settled as a failure

        await using var next = new TestServer(new ServerOptions { Store = database, ShutdownTimeout = TimeSpan.FromMilliseconds(300) });
        using RawConnection other = next.Connect();
        await Server.FaultTests.WaitUntil(() => other.RequireStatus(id).Attempt == 2, timeoutMs: 5_000); // not after the 15 s lease
        Assert.Equal(EventLoop.Client.TaskState.Running, other.State(id));
    }

    /// <summary>A node runs <c>sleep <paramref name="ms"/></c> in process and is stopped gracefully while it runs; returns the task's id.</summary>
    private async Task<string> StopWhileRunning(string database, string ms, TimeSpan shutdownTimeout)
    {
        var node = new TestServer(new ServerOptions { Store = database, ShutdownTimeout = shutdownTimeout });
        string id;
        using (RawConnection client = node.Connect())
        {
            id = client.Submit("sleep", "ARGS", ms);
            await WaitForState(database, id, 2); // running here
        }
        await node.DisposeAsync();
        Assert.Single(node.Log, line => line.StartsWith("stopping: ", StringComparison.Ordinal) && line.EndsWith(", 1 task(s) running", StringComparison.Ordinal));
        return id;
    }

    private string Row(string database, string id) =>
        (string)cluster.Execute(database, $"SELECT state || ' ' || attempt FROM eventloop_tasks WHERE id = {id}")!;

    private Task WaitForState(string database, string id, int state) =>
        Server.FaultTests.WaitUntil(() => Row(database, id).StartsWith($"{state} ", StringComparison.Ordinal));
}
