using EventLoop.Client;
using EventLoop.Tests.Server;
using static EventLoop.Tests.Queueing.QueueKit;

namespace EventLoop.Tests.Postgres;

/// <summary>
/// An outcome PostgreSQL cannot store must not leave its task running: a message with a NUL (which text columns cannot
/// hold) is stored with U+FFFD in its place, and an in-process settlement refused for a lasting reason is given up
/// after a few tries, so that the task's lease expires and the sweep deals with it.
/// </summary>
[Collection(nameof(PostgresCollection))]
public sealed class PostgresSettleFailureTests(PostgresCluster cluster)
{
    [Fact]
    public async Task A_failure_message_with_a_nul_is_stored_with_a_replacement_character()
    {
        string database = cluster.NewDatabase();
        await using var server = new TestServer(new ServerOptions { Store = database },
            s => s.Tasks.Register("nul", (_, _) => throw new InvalidOperationException("bad\0byte")));
        using RawConnection client = server.Connect();

        // An in-process run's failure: before, its FAIL statement was refused every tick and the task stayed running.
        string run = client.Submit("nul");
        Assert.Equal(1, client.Wait([run], TimeSpan.FromSeconds(20)));
        TaskStatusInfo failed = client.RequireStatus(run);
        Assert.Equal(TaskState.Failed, failed.State);
        Assert.Equal("bad\uFFFDbyte", failed.Error);

        // A worker's FAIL: before, it answered -ERR store: invalid byte sequence.
        string external = client.Submit("outside", "QUEUE", "q");
        Assert.StartsWith($"*1\r\n*4\r\n{Bulk(external)}:1\r\n", client.Call("FETCH", "FROM", "q"));
        Assert.Equal("+OK\r\n", client.Call("FAIL", external, "1", "no\0pe"));
        Assert.Equal("no\uFFFDpe", client.RequireStatus(external).Error);
    }

    [Fact]
    public async Task A_settlement_refused_for_a_lasting_reason_is_given_up_and_the_lease_expires()
    {
        string database = cluster.NewDatabase();
        await using var server = new TestServer(new ServerOptions { Store = database, MaxLeaseLosses = 1 });
        using RawConnection client = server.Connect();
        Assert.Equal(Bulk("before"), client.Result(client.Submit("echo", "ARGS", "before"), 10_000)); // the schema exists now
        cluster.Execute(database, """
            CREATE FUNCTION refuse_success() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.state = 4 THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$;
            CREATE TRIGGER refuse_success BEFORE UPDATE ON eventloop_tasks FOR EACH ROW EXECUTE FUNCTION refuse_success();
            """);

        string id = client.Submit("echo", "ARGS", "never stored");
        // Retried every tick 8 times (~2 s), then given up: no longer renewed, the 15 s lease runs out and the sweep,
        // with --max-lease-losses 1, fails the task. Before, it was retried and renewed forever: running for good.
        Assert.Equal(1, client.Wait([id], TimeSpan.FromSeconds(40)));
        TaskStatusInfo status = client.RequireStatus(id);
        Assert.Equal(TaskState.Failed, status.State);
        Assert.Equal("lease lost 1 times", status.Error);
    }
}
