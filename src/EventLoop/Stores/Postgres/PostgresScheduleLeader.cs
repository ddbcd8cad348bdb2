using System.Diagnostics;
using EventLoop.Queueing;
using Npgsql;

namespace EventLoop.Stores.Postgres;

/// <summary>
/// Fires the schedules on one node of all those sharing the database: the one whose session holds the advisory lock
/// <see cref="PostgresSchema.LeaderLock"/>. Every node tries to take it every <see cref="TryEveryMs"/> on a connection
/// of its own, outside the pool (a pooled connection would keep the lock after its user let it go); PostgreSQL
/// releases it when the leader's session ends, so a node that dies (or loses its connection) is replaced within a
/// second of PostgreSQL noticing. The leader looks for due schedules every <see cref="LookEveryMs"/> (sooner when one
/// is due sooner: one statement a look) and fires each with <see cref="PostgresSchema.Fire"/>, which stores the firing under the row id
/// derived from <c>name@fire-ms</c> (<see cref="FiringIds"/>): two leaders at once (the old one's last statement racing the new one's first) cannot store a
/// firing twice. Its own thread; touches no reactor state (the clock is read, the full flag is volatile).
/// </summary>
internal sealed class PostgresScheduleLeader : SessionLoop
{
    /// <summary>How often a node that does not lead tries to take the lock: the longest a dead leader goes unreplaced once its session is gone.</summary>
    public const int TryEveryMs = 1000;
    private const int LookEveryMs = 100;
    private const int StatementTimeoutSeconds = 5;

    /// <summary>Fire times are all the leader computes: the template stays in the schedule's row.</summary>
    private static readonly TaskTemplate Unused = new("", "", 0, 0, 0, 0, 0, []);

    private readonly TaskStore _store;
    private readonly Func<bool> _full;
    private readonly Action<string> _log;
    private volatile bool _leading;

    /// <summary>Starts trying to lead; <paramref name="full"/> says whether --max-tasks is reached (a firing is then skipped).</summary>
    public PostgresScheduleLeader(NpgsqlConnectionStringBuilder settings, TaskStore store, Func<bool> full, Action<string> log)
        : base(settings, "eventloop-schedule-leader", StatementTimeoutSeconds)
    {
        _store = store;
        _full = full;
        _log = log;
        Start();
    }

    /// <summary>Any thread: this node holds the lock and fires the schedules.</summary>
    public bool Leading => _leading;

    private long Now => _store.Clock.ToUnixMs(Stopwatch.GetTimestamp());

    protected override int Step()
    {
        if (!_leading && Scalar(PostgresSchema.TryLead) is true)
        {
            _leading = true;
            _log("PostgreSQL store: this node leads the schedules (it fires them)");
        }
        return _leading ? FireDue() : TryEveryMs;
    }

    protected override int Failed(Exception failure)
    {
        if (_leading)
            _log($"PostgreSQL store: this node no longer leads the schedules ({failure.Message}); it tries again every {TryEveryMs} ms");
        _leading = false;
        return TryEveryMs;
    }

    /// <summary>Fires what is due; returns how long to wait before looking again.</summary>
    private int FireDue()
    {
        long now = Now;
        long nextFire = now + LookEveryMs;
        var due = new List<(string Name, long EveryMs, string? Cron, string? Zone, long FireMs)>();
        using (NpgsqlCommand look = Command(PostgresSchema.DueSchedules, now))
        using (NpgsqlDataReader reader = look.ExecuteReader())
        {
            while (reader.Read())
            {
                if (reader.IsDBNull(0))
                    nextFire = reader.IsDBNull(4) ? nextFire : Math.Min(nextFire, reader.GetInt64(4));
                else
                    due.Add((reader.GetString(0), reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                             reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetInt64(4)));
            }
        }
        foreach ((string name, long everyMs, string? cron, string? zone, long fireMs) in due)
            nextFire = Math.Min(nextFire, Fire(new ScheduleDefinition(name, everyMs, cron, zone, Unused), fireMs, now));
        return (int)Math.Clamp(nextFire - Now, 0, LookEveryMs);
    }

    /// <summary>
    /// One firing; returns the schedule's next fire time: the first after this one, or after now (firings missed while
    /// no node led collapse into this one, as in memory).
    /// </summary>
    private long Fire(ScheduleDefinition definition, long fireMs, long now)
    {
        long next;
        try
        {
            next = definition.Build(_store).NextAfter(Math.Max(fireMs, now)) ?? TaskStore.LatestUnixMs;
        }
        catch (Exception unusable) when (unusable is Cronos.CronFormatException or TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            next = TaskStore.LatestUnixMs; // another node accepted what this one cannot read: never fire it wrong
            _log($"schedule '{definition.Name}' cannot be computed on this node ({unusable.Message}): it stays listed but will not fire again");
        }
        bool full = _full();
        using NpgsqlCommand fire = Command(PostgresSchema.Fire, definition.Name, fireMs, next, now, !full, FiringIds.Of(definition.Name, fireMs));
        using NpgsqlDataReader reader = fire.ExecuteReader();
        if (reader.Read() && reader.GetInt64(0) > 0 && reader.IsDBNull(1))
            _log($"schedule '{definition.Name}' skipped its firing at {fireMs}: {(full ? "max-tasks reached" : "a task of its id exists already")}");
        return next;
    }

    private object? Scalar(string sql)
    {
        using NpgsqlCommand command = Command(sql);
        return command.ExecuteScalar();
    }
}
