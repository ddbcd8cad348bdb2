using EventLoop.Stores.Postgres;
using EventLoop.Tests.Server;
using Npgsql;
using static EventLoop.Tests.Queueing.QueueKit;

namespace EventLoop.Tests.Postgres;

/// <summary>
/// A SUBMIT the node can run at once is stored claimed by it (running, attempt 1, its lease), and so needs no claim;
/// never ahead of a task due for the same handlers with its priority or higher, never in a paused queue, never when
/// delayed.
/// </summary>
[Collection(nameof(PostgresCollection))]
public sealed class PostgresSubmitClaimTests(PostgresCluster cluster)
{
    private const string Node = "node-a";
    private static readonly string[] Handlers = ["echo"];

    [Fact]
    public async Task Tasks_submitted_to_a_node_with_room_are_stored_claimed_and_run_without_a_claim()
    {
        const int Tasks = 200;
        string database = cluster.NewDatabase();
        await using var server = new TestServer(new ServerOptions { Store = database });
        using RawConnection client = server.Connect();
        client.Send(Enumerable.Range(0, Tasks).SelectMany(i => RawConnection.Encode("SUBMIT", "echo", "ARGS", $"v{i}")).ToArray());
        var ids = Enumerable.Range(0, Tasks).Select(_ => Parse(client.ReadReply()).Text!).ToList();
        client.Send(ids.SelectMany(id => RawConnection.Encode("RESULT", id, "TIMEOUT", "20000")).ToArray());
        for (int i = 0; i < Tasks; i++)
            Assert.Equal(Bulk($"v{i}"), client.ReadReply(TimeSpan.FromSeconds(30)));

        Assert.Equal($"{Tasks}", PostgresNodesTests.StoreInfo(client)["store_submits_claimed"]);
        // Stored claimed: started when it was created, by the one attempt, which then succeeded.
        Assert.Equal((long)Tasks, cluster.Execute(database,
            "SELECT count(*) FROM eventloop_tasks WHERE state = 4 AND attempt = 1 AND started_ms = created_ms"));
    }

    [Fact]
    public void A_submit_is_stored_claimed_only_when_nothing_due_for_its_handlers_is_ahead_of_it()
    {
        using NpgsqlConnection connection = MigratedDatabase();

        (long first, bool firstClaimed) = Submit(connection, "echo", "q", Now, priority: 0, claim: true);
        Assert.True(firstClaimed);
        Assert.Equal("2 1 node-a 1015000", Row(connection, first));

        Assert.False(Submit(connection, "echo", "q", Now, priority: 0, claim: false).Claimed); // no room reserved: stored ready
        (long behind, bool behindClaimed) = Submit(connection, "echo", "q", Now, priority: 0, claim: true);
        Assert.False(behindClaimed); // the ready one of the same priority is older
        Assert.Equal("1 0  0", Row(connection, behind));
        Assert.True(Submit(connection, "echo", "q", Now, priority: 1, claim: true).Claimed); // a higher priority runs first anyway
        Assert.True(Submit(connection, "echo", "other", Now, priority: 1, claim: true).Claimed); // the claim takes from every queue alike

        Assert.False(Submit(connection, "echo", "q", Now, priority: 9, claim: true, runAt: Now + 1).Claimed); // delayed

        using (var pause = new NpgsqlCommand("INSERT INTO eventloop_queues VALUES ('held', true)", connection))
            pause.ExecuteNonQuery();
        Assert.False(Submit(connection, "echo", "held", Now, priority: 9, claim: true).Claimed);

        // A ready task of a handler this node does not run, or one in a paused queue, is not ahead of it.
        Assert.False(Submit(connection, "elsewhere", "q", Now, priority: 5, claim: false).Claimed);
        Assert.True(Submit(connection, "echo", "q", Now, priority: 2, claim: true).Claimed);
        Assert.False(Submit(connection, "echo", "held", Now, priority: 8, claim: false).Claimed);
        Assert.True(Submit(connection, "echo", "q", Now, priority: 3, claim: true).Claimed);
        // Nor is one not due yet (the delayed one, priority 9).
        Assert.True(Submit(connection, "echo", "q", Now, priority: 4, claim: true).Claimed);
    }

    [Fact]
    public void A_batch_of_submits_is_looked_at_once_and_claims_by_the_same_rules()
    {
        using NpgsqlConnection connection = MigratedDatabase();

        Assert.Equal([true, false, true, false], SubmitMany(connection, Now, [0, 0, 5, 9], [true, false, true, true], runAt: [Now, Now, Now, Now + 5]));
        // Now a ready task of priority 0 is ahead: rows of priority 0 stay ready, higher ones are claimed.
        Assert.Equal([false, true], SubmitMany(connection, Now, [0, 1], [true, true], runAt: [Now, Now]));
    }

    [Fact]
    public void In_a_batch_no_row_is_claimed_after_one_for_a_handler_here_that_had_no_room()
    {
        Assert.Equal([true, true, false, false], SubmitBatch.MayClaim([true, true, false, true], [true, true, true, true]));
        // A row no handler here runs, or not due yet, is ahead of nothing this node claims.
        Assert.Equal([true, false, true], SubmitBatch.MayClaim([true, false, true], [true, false, true]));
        Assert.Equal([false, false], SubmitBatch.MayClaim([false, true], [true, true]));
    }

    private const long Now = 1_000_000;

    /// <summary>A connection to a new database with the store's schema, for the statements alone.</summary>
    private NpgsqlConnection MigratedDatabase()
    {
        NpgsqlConnection connection = cluster.Open(cluster.NewDatabase());
        PostgresSchema.Migrate(connection, 1);
        return connection;
    }

    private static (long Id, bool Claimed) Submit(NpgsqlConnection connection, string task, string queue, long now, short priority, bool claim,
        long? runAt = null)
    {
        using var command = new NpgsqlCommand(PostgresSchema.Submit, connection);
        Add(command, [task, queue, true, now, runAt ?? now, priority, 0, 1000, 30_000, 3600, null, new byte[] { 0 }, claim, Node, 15_000, Handlers]);
        using NpgsqlDataReader reader = command.ExecuteReader();
        Assert.True(reader.Read());
        return (reader.GetInt64(0), reader.GetBoolean(1));
    }

    private static bool[] SubmitMany(NpgsqlConnection connection, long now, short[] priorities, bool[] claim, long[] runAt)
    {
        int n = priorities.Length;
        using var command = new NpgsqlCommand(PostgresSchema.SubmitMany, connection);
        Add(command, [Enumerable.Repeat("echo", n).ToArray(), Enumerable.Repeat("q", n).ToArray(), Enumerable.Repeat(true, n).ToArray(),
            Enumerable.Repeat(now, n).ToArray(), runAt, priorities, new int[n], Enumerable.Repeat(1000, n).ToArray(),
            Enumerable.Repeat(30_000, n).ToArray(), Enumerable.Repeat(3600, n).ToArray(), new string?[n],
            Enumerable.Repeat(new byte[] { 0 }, n).ToArray(), claim, Node, 15_000, Handlers, now]);
        var claimed = new List<bool>();
        using NpgsqlDataReader reader = command.ExecuteReader();
        while (reader.Read())
            claimed.Add(reader.GetBoolean(2));
        return [.. claimed];
    }

    /// <summary>The parameters typed as the store's own statements type them.</summary>
    private static void Add(NpgsqlCommand command, object?[] values)
    {
        foreach (object? value in values)
            command.Parameters.Add(StoreRequest.Parameter(value));
    }

    /// <summary>state, attempt, lease_node, lease_until_ms of a row.</summary>
    private static string Row(NpgsqlConnection connection, long id)
    {
        using var command = new NpgsqlCommand($"SELECT concat_ws(' ', state, attempt, coalesce(lease_node, ''), lease_until_ms) FROM eventloop_tasks WHERE id = {id}", connection);
        return (string)command.ExecuteScalar()!;
    }
}
