using System.Diagnostics;
using System.Globalization;
using EventLoop.Queueing;
using Npgsql;

namespace EventLoop.Stores.Postgres;

/// <summary>
/// The dashboard's picture of a PostgreSQL queue (<see cref="QueueOverview"/>): the queues, the task count, the dead set
/// and the schedules, read in one round trip on a thread and session of its own (<see cref="SessionLoop"/>), because
/// the counts pass over the whole table and the store's connections must not wait behind them. It queries only while
/// the snapshot is watched (<see cref="Watched"/>), and after each query waits four times as long as it took (at
/// least <see cref="EveryMs"/>), so it spends at most a fifth of a session whatever the table's size. The overview is
/// published by reference and never changed after: the reactor reads it without a lock. Touches no reactor state.
/// </summary>
internal sealed class PostgresOverview : SessionLoop
{
    private const int EveryMs = 1000;
    private const int IdleLookMs = 250;
    private const int StatementTimeoutSeconds = 60;

    private readonly QueueClock _clock;
    private readonly Action<string> _log;
    private volatile QueueOverview? _latest;
    private volatile bool _watched;
    private long _reads;
    private long _lastMicros;

    public PostgresOverview(NpgsqlConnectionStringBuilder settings, QueueClock clock, Action<string> log)
        : base(settings, "eventloop-pg-overview", StatementTimeoutSeconds)
    {
        _clock = clock;
        _log = log;
        Start();
    }

    /// <summary>
    /// The last overview read, with why the queries since failed while they fail; null until the first query came
    /// back or failed. Any thread; written by this one only.
    /// </summary>
    public QueueOverview? Latest => _latest;

    /// <summary>Any thread: overviews read since start (INFO's <c>store_overview_reads</c>).</summary>
    public long Reads => Interlocked.Read(ref _reads);

    /// <summary>Any thread: how long the last one took, in µs.</summary>
    public long LastMicros => Interlocked.Read(ref _lastMicros);

    /// <summary>Reactor: someone reads the snapshot or /metrics; while false, no query is made.</summary>
    public bool Watched
    {
        set => _watched = value;
    }

    protected override int Step()
    {
        if (!_watched)
            return IdleLookMs;
        long started = Stopwatch.GetTimestamp();
        long now = _clock.ToUnixMs(started); // the reactor's clock, read the same way from this thread
        using var batch = new NpgsqlBatch(Session)
        {
            BatchCommands =
            {
                StoreRequest.Command(PostgresSchema.Queues, now),
                StoreRequest.Command(PostgresSchema.OverviewTotals, now),
                StoreRequest.Command(PostgresSchema.OverviewDead, now, (long)QueueOverview.DeadListed),
                StoreRequest.Command(PostgresSchema.OverviewSchedules),
            },
        };
        using NpgsqlDataReader reader = batch.ExecuteReader();
        var queues = new List<QueueView>();
        while (reader.Read())
            queues.Add(new QueueView(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetBoolean(4)));
        reader.NextResult();
        reader.Read();
        long tasks = reader.GetInt64(0), oldest = reader.IsDBNull(1) ? 0 : reader.GetInt64(1), deadCount = reader.GetInt64(2);
        reader.NextResult();
        var dead = new List<DeadTaskView>();
        while (reader.Read())
            dead.Add(new DeadTaskView(reader.GetInt64(0).ToString(CultureInfo.InvariantCulture), reader.GetString(1), reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetInt64(4), reader.GetInt32(5)));
        reader.NextResult();
        var schedules = new List<ScheduleView>();
        while (reader.Read())
            schedules.Add(new ScheduleView(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt64(4)));
        bool wasFailing = _latest?.ReadError is not null;
        _latest = new QueueOverview(queues, tasks, oldest, deadCount, dead, schedules, now);
        long micros = (long)Stopwatch.GetElapsedTime(started).TotalMicroseconds;
        Interlocked.Exchange(ref _lastMicros, micros);
        Interlocked.Increment(ref _reads);
        if (wasFailing)
            _log("PostgreSQL store: the dashboard's overview is read again");
        return (int)Math.Clamp(micros * 4 / 1000, EveryMs, 60_000);
    }

    protected override int Failed(Exception failure)
    {
        // The database restarting, a statement timeout: the dashboard keeps the last overview, saying how old it is and why.
        if (_latest?.ReadError is null)
            _log($"PostgreSQL store: the dashboard's overview could not be read ({failure.Message}); tried again every {EveryMs} ms");
        _latest = (_latest ?? QueueOverview.Unread) with { ReadError = failure.Message };
        return EveryMs;
    }
}
