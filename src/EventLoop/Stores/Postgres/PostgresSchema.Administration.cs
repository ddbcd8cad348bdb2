namespace EventLoop.Stores.Postgres;

/// <summary>
/// Schema version 2 and the statements of the administration verbs (QUEUES, QUEUE PAUSE/RESUME, DEAD …, SCHEDULE …),
/// the schedule leader's and the --max-tasks count. Same rules as the rest of <see cref="PostgresSchema"/>: one result
/// set per statement, times passed in as parameters.
/// </summary>
internal static partial class PostgresSchema
{
    /// <summary>
    /// Version 2: paused queues, schedules, and which firing a task is (<c>name@fire-ms</c>; its row id is derived from
    /// it, <see cref="FiringIds"/>, so no firing is ever stored twice, whichever node fires it and however often).
    /// </summary>
    private const string AdministrationMigration = """
        CREATE TABLE eventloop_queues (
            name text PRIMARY KEY,
            paused boolean NOT NULL);
        CREATE TABLE eventloop_schedules (
            name text PRIMARY KEY,
            spec text NOT NULL,
            every_ms bigint NOT NULL,
            cron text,
            zone text,
            task text NOT NULL,
            queue text NOT NULL,
            in_process boolean NOT NULL,
            priority smallint NOT NULL,
            retries int NOT NULL,
            backoff_ms int NOT NULL,
            timeout_ms int NOT NULL,
            result_ttl_s int NOT NULL,
            args bytea NOT NULL,
            next_fire_ms bigint NOT NULL);
        ALTER TABLE eventloop_tasks ADD COLUMN fired_as text;
        """;

    /// <summary>What both claims add: a paused queue hands nothing out, on any node (the pause is a row, not a node's memory).</summary>
    private const string NotPaused = "queue NOT IN (SELECT name FROM eventloop_queues WHERE paused)";

    /// <summary>
    /// QUEUES ($1 now): every queue that holds a row or was paused or resumed, by name (byte order, as in memory); a
    /// scheduled or retrying task past its time counts as queued. One pass over the table: an operator's verb, not a hot one.
    /// </summary>
    public const string Queues = """
        WITH c AS (
            SELECT queue,
                   count(*) FILTER (WHERE state = 1 OR (state IN (0, 3) AND run_at_ms <= $1)) AS queued,
                   count(*) FILTER (WHERE state = 2) AS running,
                   count(*) FILTER (WHERE state IN (0, 3) AND run_at_ms > $1) AS waiting
            FROM eventloop_tasks GROUP BY queue)
        SELECT COALESCE(c.queue, q.name) AS name, COALESCE(c.queued, 0), COALESCE(c.running, 0), COALESCE(c.waiting, 0), COALESCE(q.paused, false)
        FROM c FULL JOIN eventloop_queues q ON q.name = c.queue
        ORDER BY name COLLATE "C"
        """;

    /// <summary>QUEUE PAUSE / RESUME ($1 queue, $2 paused).</summary>
    public const string Pause = """
        INSERT INTO eventloop_queues (name, paused) VALUES ($1, $2)
        ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused RETURNING paused
        """;

    /// <summary>DEAD LIST ($1 queue or null for all, $2 count, $3 now): oldest failure first.</summary>
    public const string ListDead = """
        SELECT id FROM eventloop_tasks
        WHERE state = 5 AND expires_ms > $3 AND ($1::text IS NULL OR queue = $1)
        ORDER BY finished_ms, id LIMIT $2
        """;

    /// <summary>
    /// DEAD RETRY ($1 id, $2 now): queued again with its attempts reset, as in memory; its KEY is dropped when a newer
    /// unfinished task holds it. Returns the queue and whether a handler runs it (no row: not in the dead set).
    /// </summary>
    public const string RetryDead = """
        UPDATE eventloop_tasks t SET state = 1, attempt = 0, failures = 0, lease_losses = 0, finished_ms = 0, expires_ms = 0, result = NULL,
            run_at_ms = $2, key = CASE WHEN EXISTS (SELECT 1 FROM eventloop_tasks e WHERE e.key = t.key AND e.state < 4) THEN NULL ELSE t.key END
        WHERE t.id = $1 AND t.state = 5 AND t.expires_ms > $2
        RETURNING t.queue, t.in_process
        """;

    /// <summary>DEAD DROP ($1 id, $2 now): how many rows went (0 or 1).</summary>
    public const string DropDead = """
        WITH d AS (DELETE FROM eventloop_tasks WHERE id = $1 AND state = 5 AND expires_ms > $2 RETURNING 1)
        SELECT count(*) FROM d
        """;

    /// <summary>
    /// SCHEDULE ADD ($1 name, $2 spec, $3 every ms (0: CRON), $4 cron, $5 zone, $6 task, $7 queue, $8 in process, $9 priority,
    /// $10 retries, $11 backoff ms, $12 timeout ms, $13 result ttl s, $14 args, $15 next fire ms, $16 max schedules):
    /// replaces one of that name; a new one only below --max-schedules (0 rows: full).
    /// </summary>
    public const string AddSchedule = """
        WITH up AS (
            INSERT INTO eventloop_schedules (name, spec, every_ms, cron, zone, task, queue, in_process, priority, retries, backoff_ms, timeout_ms,
                                             result_ttl_s, args, next_fire_ms)
            SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15
            WHERE EXISTS (SELECT 1 FROM eventloop_schedules WHERE name = $1) OR (SELECT count(*) FROM eventloop_schedules) < $16
            ON CONFLICT (name) DO UPDATE SET spec = EXCLUDED.spec, every_ms = EXCLUDED.every_ms, cron = EXCLUDED.cron, zone = EXCLUDED.zone,
                task = EXCLUDED.task, queue = EXCLUDED.queue, in_process = EXCLUDED.in_process, priority = EXCLUDED.priority,
                retries = EXCLUDED.retries, backoff_ms = EXCLUDED.backoff_ms, timeout_ms = EXCLUDED.timeout_ms,
                result_ttl_s = EXCLUDED.result_ttl_s, args = EXCLUDED.args, next_fire_ms = EXCLUDED.next_fire_ms
            RETURNING 1)
        SELECT count(*) FROM up
        """;

    /// <summary>SCHEDULE DEL ($1 name): 0 or 1.</summary>
    public const string RemoveSchedule = "WITH d AS (DELETE FROM eventloop_schedules WHERE name = $1 RETURNING 1) SELECT count(*) FROM d";

    /// <summary>SCHEDULE LIST: by name, in byte order as in memory.</summary>
    public const string ListSchedules = """SELECT name, spec, task, next_fire_ms FROM eventloop_schedules ORDER BY name COLLATE "C" """;

    /// <summary>The schedule leader holds this advisory lock on a session of its own: whoever holds it fires the schedules.</summary>
    public const long LeaderLock = 0x45564c534348; // "EVLSCH"

    public static readonly string TryLead = $"SELECT pg_try_advisory_lock({LeaderLock})";

    /// <summary>
    /// The leader's look ($1 now), one statement: the schedules due (name, every ms, cron, zone, fire ms), then one row
    /// without a name whose last column is when the first schedule not due yet is (null: none).
    /// </summary>
    public const string DueSchedules = """
        (SELECT name, every_ms, cron, zone, next_fire_ms FROM eventloop_schedules WHERE next_fire_ms <= $1 ORDER BY next_fire_ms LIMIT 100)
        UNION ALL
        SELECT NULL, 0, NULL, NULL, min(next_fire_ms) FROM eventloop_schedules WHERE next_fire_ms > $1
        """;

    /// <summary>
    /// One firing ($1 name, $2 fire ms, $3 the next fire ms, $4 now, $5 store the task: false when --max-tasks is reached,
    /// $6 the firing's row id, <see cref="FiringIds"/>): moves the schedule on only if it still waits for this fire time,
    /// stores its task under the id derived from <c>name@fire-ms</c> (ON CONFLICT DO NOTHING: a firing cannot be stored
    /// twice, even by two leaders during a failover), and wakes every node's fetchers and workers for its queue.
    /// Returns (moved on, the task's id or null).
    /// </summary>
    public const string Fire = $"""
        WITH s AS (UPDATE eventloop_schedules SET next_fire_ms = $3 WHERE name = $1 AND next_fire_ms = $2 RETURNING *),
        ins AS (
            INSERT INTO eventloop_tasks (id, task, queue, in_process, state, priority, created_ms, run_at_ms, retries, backoff_ms, timeout_ms, result_ttl_s, args, fired_as)
            SELECT $6, task, queue, in_process, 1, priority, $4, $4, retries, backoff_ms, timeout_ms, result_ttl_s, args, name || '@' || $2::bigint FROM s WHERE $5
            ON CONFLICT DO NOTHING
            RETURNING id, queue)
        SELECT (SELECT count(*) FROM s), (SELECT id FROM ins), (SELECT pg_notify('{ReadyChannel}', queue) FROM ins)
        """;

    /// <summary>
    /// The dashboard's overview ($1 now), after <see cref="Queues"/>: rows held (as the --max-tasks count counts them),
    /// when the oldest ready task was submitted (null: none), and the dead set's size. One pass over the table.
    /// </summary>
    public const string OverviewTotals = """
        SELECT count(*) FILTER (WHERE NOT (state >= 4 AND expires_ms <= $1)),
               min(created_ms) FILTER (WHERE state = 1 OR (state IN (0, 3) AND run_at_ms <= $1)),
               count(*) FILTER (WHERE state = 5 AND expires_ms > $1)
        FROM eventloop_tasks
        """;

    /// <summary>The overview's dead tasks ($1 now, $2 how many): oldest failure first, as DEAD LIST.</summary>
    public const string OverviewDead = """
        SELECT id, task, queue, error, finished_ms, attempt FROM eventloop_tasks
        WHERE state = 5 AND expires_ms > $1 ORDER BY finished_ms, id LIMIT $2
        """;

    /// <summary>The overview's schedules, by name.</summary>
    public const string OverviewSchedules = """SELECT name, spec, task, queue, next_fire_ms FROM eventloop_schedules ORDER BY name COLLATE "C" """;

    /// <summary>
    /// The --max-tasks count ($1 the limit, $2 now): rows held, finished ones not yet expired included, as memory counts;
    /// never reads more than the limit's worth of rows.
    /// </summary>
    public const string CountTasks = $"SELECT count(*) FROM (SELECT 1 FROM eventloop_tasks WHERE {Live} LIMIT $1) t";
}
