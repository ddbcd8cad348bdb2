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
/// Its own thread and unpooled session (<see cref="SessionLoop"/>): a vacuum of a large table takes seconds, which
/// neither the store's round trips nor the schedule leader's may wait for. It looks every <see cref="LookEveryMs"/> at PostgreSQL's count of dead rows
/// (<c>pg_stat_user_tables</c>) and vacuums when there are <see cref="DeadRowsAtLeast"/> of them and 5 % of the live
/// ones; after a vacuum it waits four times as long as that vacuum took, so it spends at most a fifth of the time
/// vacuuming whatever the table's size. <c>SKIP_LOCKED</c>: when another session vacuums the table (autovacuum, or a
/// node that led a moment ago), this one skips. A database that refuses (the table's owner is another role) is told
/// once in the log; autovacuum then does what it does. A vacuum that removes less than half the dead rows met a
/// snapshot older than them (a long transaction, a replication slot): repeating it at once would scan the table for
/// nothing, so the next waits twice as long each time, up to <see cref="LongestBackOffMs"/>, and the log names the
/// oldest session once per such spell. Touches no reactor state.
/// </remarks>
internal sealed class PostgresVacuum : SessionLoop
{
    private const int LookEveryMs = 1000;
    private const long DeadRowsAtLeast = 10_000;
    private const int StatementTimeoutSeconds = 600;
    private const int LongestBackOffMs = 60_000;

    private readonly Func<bool> _leading;
    private readonly Action<string> _log;
    // The vacuum under way, for Stopping to cancel (Npgsql's Cancel may be called from any thread).
    private volatile NpgsqlCommand? _running;
    private bool _refused;
    private long _vacuums;
    private long _lastMicros;
    /// <summary>The wait after a vacuum that removed little (0: the last one did its work).</summary>
    private int _backOffMs;

    /// <summary>Starts looking; vacuums only while <paramref name="leading"/> says this node leads.</summary>
    public PostgresVacuum(NpgsqlConnectionStringBuilder settings, Func<bool> leading, Action<string> log)
        : base(settings, "eventloop-vacuum", StatementTimeoutSeconds)
    {
        _leading = leading;
        _log = log;
        Start();
    }

    /// <summary>Any thread: vacuums this node ran.</summary>
    public long Vacuums => Interlocked.Read(ref _vacuums);

    /// <summary>Any thread: how long the last one took, in µs.</summary>
    public long LastMicros => Interlocked.Read(ref _lastMicros);

    protected override int Step()
    {
        if (_refused || !_leading() || DeadRows() is not { } before || !Due(before))
            return LookEveryMs;
        long started = Stopwatch.GetTimestamp();
        try
        {
            using NpgsqlCommand vacuum = Command(PostgresSchema.VacuumTasks);
            _running = vacuum;
            vacuum.ExecuteNonQuery();
        }
        catch (PostgresException refused) when (refused.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            _refused = true;
            _log($"PostgreSQL store: this node may not VACUUM eventloop_tasks ({refused.MessageText}): autovacuum alone keeps it");
            return LookEveryMs;
        }
        finally
        {
            _running = null;
        }
        long micros = (long)Stopwatch.GetElapsedTime(started).TotalMicroseconds;
        Interlocked.Exchange(ref _lastMicros, micros);
        Interlocked.Increment(ref _vacuums);
        int wait = (int)Math.Clamp(micros * 4 / 1000, LookEveryMs, 10 * 60 * 1000);
        return Math.Max(wait, BackOffIfHeld(before.Dead));
    }

    /// <summary>After a vacuum: the wait its result asks for (0 when it removed at least half the dead rows it found).</summary>
    private int BackOffIfHeld(long deadBefore)
    {
        long deadAfter = DeadRows()?.Dead ?? 0;
        if (deadAfter * 2 < deadBefore)
        {
            _backOffMs = 0;
            return 0;
        }
        if (_backOffMs == 0)
            _log($"PostgreSQL store: VACUUM of eventloop_tasks left {deadAfter} of {deadBefore} dead rows: {OldestSnapshot()} still sees them; the next vacuums wait longer, up to {LongestBackOffMs / 1000} s, until one removes them");
        _backOffMs = Math.Min(LongestBackOffMs, Math.Max(2 * LookEveryMs, 2 * _backOffMs));
        return _backOffMs;
    }

    private string OldestSnapshot()
    {
        using NpgsqlCommand look = Command(PostgresSchema.OldestSnapshot);
        using NpgsqlDataReader reader = look.ExecuteReader();
        return reader.Read()
            ? $"the session of pid {reader.GetInt32(0)} ({reader.GetString(1)}, in a transaction for {reader.GetInt64(2)} s)"
            : "no session (a replication slot, a prepared transaction, or another vacuum that this one skipped)";
    }

    protected override int Failed(Exception failure)
    {
        // The database restarting, a cancelled statement: the session is made again on the next look.
        _log($"PostgreSQL store: vacuum of eventloop_tasks failed ({failure.Message}); tried again in {LookEveryMs} ms");
        return LookEveryMs;
    }

    /// <summary>A stop does not wait for a long vacuum: PostgreSQL rolls it back, and nothing is lost.</summary>
    protected override void Stopping() => _running?.Cancel();

    private (long Dead, long Live)? DeadRows()
    {
        using NpgsqlCommand look = Command(PostgresSchema.DeadTaskRows);
        using NpgsqlDataReader reader = look.ExecuteReader();
        return reader.Read() ? (reader.GetInt64(0), reader.GetInt64(1)) : null;
    }

    private static bool Due((long Dead, long Live) rows) => rows.Dead >= DeadRowsAtLeast && rows.Dead * 20 >= rows.Live;
}
