using System.Diagnostics;
using Npgsql;

namespace EventLoop.Stores.Postgres;

/// <summary>
/// Vacuums the tasks table from the node that leads the schedules, once enough rows died since the last time. A queue
/// table needs it more often than autovacuum comes by (once a minute per database at most, and only past 20 % of the
/// table): every claim and settle leaves the row's old version, and its entry in the ready index, behind. Nothing but
/// VACUUM removes an index entry whose page keeps changing, and the in-process claim walks the ready index from its
/// oldest end: it read every dead entry left since the last vacuum, so each claim cost more the longer the node had
/// run (measured: 0.87 ms a claim of 64 after 70,000 tasks, 1.44 ms averaged over 250,000; vacuuming each second took
/// the lifecycle from 15,800 and 14,400 to 20,900 and 18,500 tasks/s).
/// </summary>
/// <remarks>
/// Its own thread and unpooled session: a vacuum of a large table takes seconds, which neither the store's round trips
/// nor the schedule leader's may wait for. It looks every <see cref="LookEveryMs"/> at PostgreSQL's count of dead rows
/// (<c>pg_stat_user_tables</c>) and vacuums when there are <see cref="DeadRowsAtLeast"/> of them and 5 % of the live
/// ones; after a vacuum it waits four times as long as that vacuum took, so it spends at most a fifth of the time
/// vacuuming whatever the table's size. <c>SKIP_LOCKED</c>: when another session vacuums the table (autovacuum, or a
/// node that led a moment ago), this one skips. A database that refuses (the table's owner is another role) is told
/// once in the log; autovacuum then does what it does. Touches no reactor state.
/// </remarks>
internal sealed class PostgresVacuum : IDisposable
{
    private const int LookEveryMs = 1000;
    private const long DeadRowsAtLeast = 10_000;
    private const int StatementTimeoutSeconds = 600;

    private readonly string _connectionString;
    private readonly Func<bool> _leading;
    private readonly Action<string> _log;
    private readonly ManualResetEventSlim _stopping = new();
    private readonly Thread _thread;
    private NpgsqlConnection? _connection;
    // The vacuum under way, for Dispose to cancel (Npgsql's Cancel may be called from any thread).
    private volatile NpgsqlCommand? _running;
    private bool _refused;
    private long _vacuums;
    private long _lastMicros;

    /// <summary>Starts looking; vacuums only while <paramref name="leading"/> says this node leads.</summary>
    public PostgresVacuum(NpgsqlConnectionStringBuilder settings, Func<bool> leading, Action<string> log)
    {
        _connectionString = new NpgsqlConnectionStringBuilder(settings.ConnectionString)
        {
            Pooling = false,
            CommandTimeout = StatementTimeoutSeconds,
            ApplicationName = "eventloop-vacuum",
        }.ConnectionString;
        _leading = leading;
        _log = log;
        _thread = new Thread(Run) { IsBackground = true, Name = "eventloop-postgres-vacuum" };
        _thread.Start();
    }

    /// <summary>Any thread: vacuums this node ran.</summary>
    public long Vacuums => Interlocked.Read(ref _vacuums);

    /// <summary>Any thread: how long the last one took, in µs.</summary>
    public long LastMicros => Interlocked.Read(ref _lastMicros);

    private void Run()
    {
        int waitMs = LookEveryMs;
        while (!_stopping.Wait(waitMs))
        {
            waitMs = LookEveryMs;
            if (_refused || !_leading())
                continue;
            try
            {
                if (_connection is null)
                {
                    _connection = new NpgsqlConnection(_connectionString);
                    _connection.Open();
                }
                if (!Due())
                    continue;
                long started = Stopwatch.GetTimestamp();
                Execute(PostgresSchema.VacuumTasks);
                long micros = (long)Stopwatch.GetElapsedTime(started).TotalMicroseconds;
                Interlocked.Exchange(ref _lastMicros, micros);
                Interlocked.Increment(ref _vacuums);
                waitMs = (int)Math.Clamp(micros * 4 / 1000, LookEveryMs, 10 * 60 * 1000);
            }
            catch (PostgresException refused) when (refused.SqlState == PostgresErrorCodes.InsufficientPrivilege)
            {
                _refused = true;
                _log($"PostgreSQL store: this node may not VACUUM eventloop_tasks ({refused.MessageText}): autovacuum alone keeps it");
            }
            catch (Exception failed)
            {
                // Whatever failed (the database restarting, a cancelled statement), the thread must not die with it:
                // the session is dropped and made again on the next look.
                if (_stopping.IsSet)
                    break;
                _log($"PostgreSQL store: vacuum of eventloop_tasks failed ({failed.Message}); tried again in {LookEveryMs} ms");
                _connection?.Dispose();
                _connection = null;
            }
        }
    }

    private bool Due()
    {
        using var look = new NpgsqlCommand(PostgresSchema.DeadTaskRows, _connection);
        using NpgsqlDataReader reader = look.ExecuteReader();
        if (!reader.Read())
            return false;
        long dead = reader.GetInt64(0), live = reader.GetInt64(1);
        return dead >= DeadRowsAtLeast && dead * 20 >= live;
    }

    private void Execute(string sql)
    {
        using var command = new NpgsqlCommand(sql, _connection);
        _running = command;
        try
        {
            command.ExecuteNonQuery();
        }
        finally
        {
            _running = null;
        }
    }

    public void Dispose()
    {
        _stopping.Set();
        _running?.Cancel(); // a stop does not wait for a long vacuum: PostgreSQL rolls it back, nothing is lost
        if (!_thread.Join(TimeSpan.FromSeconds(10)))
            return; // a vacuum is running: its session goes with the process
        _connection?.Dispose();
        _stopping.Dispose();
    }
}
