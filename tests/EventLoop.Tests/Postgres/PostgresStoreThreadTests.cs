using EventLoop.Stores.Postgres;
using Npgsql;

namespace EventLoop.Tests.Postgres;

/// <summary>The store thread against a real PostgreSQL: one round trip per list, and a failing statement costs only what it must.</summary>
[Collection(nameof(PostgresCollection))]
public sealed class PostgresStoreThreadTests(PostgresCluster cluster)
{
    [Fact]
    public async Task A_statement_that_fails_fails_its_own_request_the_ones_before_it_answer_and_the_connection_stays()
    {
        string database = cluster.NewDatabase();
        var settings = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1", Port = cluster.Port, Username = "postgres", Database = database[(database.LastIndexOf('/') + 1)..],
        };
        await using NpgsqlDataSource source = NpgsqlDataSource.Create(settings);
        var done = new BlockingQueue();
        using var thread = new PostgresStoreThread(source, "test-store", done.Add, _ => { });

        Probe first = new("SELECT 1"), failing = new("SELECT 1/0"), after = new("SELECT 3");
        thread.Hand([first, failing, after]);
        done.Take();
        Assert.Null(first.Failure);
        Assert.Equal(1, first.Value);
        Assert.Contains("division by zero", failing.Failure);
        Assert.StartsWith("not answered: an earlier statement of its round trip failed (22012)", after.Failure);

        Probe next = new("SELECT 4");
        thread.Hand([next]);
        done.Take();
        Assert.Null(next.Failure);
        Assert.Equal(4, next.Value);
        Assert.Equal(0, thread.FailedRoundTrips); // a statement's error is not a lost connection
        Assert.True(thread.Connected);
        Assert.Equal(2, thread.RoundTrips);

        Probe alone = new("SELECT 1/0");
        thread.Hand([alone]); // the first statement's error comes from ExecuteReader itself
        done.Take();
        Assert.Contains("division by zero", alone.Failure);
    }

    private sealed class Probe(string sql) : StoreRequest
    {
        public int? Value { get; private set; }

        public override void AddTo(NpgsqlBatch batch) => batch.BatchCommands.Add(Command(sql));

        public override void Read(NpgsqlDataReader reader) => Value = reader.Read() ? reader.GetInt32(0) : null;

        public override void Complete()
        {
        }
    }

    private sealed class BlockingQueue
    {
        private readonly System.Collections.Concurrent.BlockingCollection<List<StoreRequest>> _lists = [];

        public void Add(List<StoreRequest> list) => _lists.Add(list);

        public List<StoreRequest> Take() =>
            _lists.TryTake(out List<StoreRequest>? list, TimeSpan.FromSeconds(30)) ? list : throw new TimeoutException("the store thread never answered");
    }
}
