using Npgsql;

namespace EventLoop.Stores.Postgres;

/// <summary>
/// The tables and every statement the PostgreSQL store runs (docs/scaling.md lists them per verb). States are
/// <see cref="Queueing.TaskState"/>'s numbers: 0 scheduled, 1 queued, 2 running, 3 retrying, 4 succeeded, 5 failed,
/// 6 cancelled. Times are Unix ms from the node's clock, passed in as parameters (nodes must keep NTP time).
/// Every statement returns exactly one result set: the store thread reads a batch's result sets in request order,
/// and Npgsql skips statements that return none, which would shift every later answer onto the wrong request.
/// </summary>
internal static partial class PostgresSchema
{
    /// <summary>Every node takes this advisory lock while it migrates, so two nodes starting together migrate once.</summary>
    private const long MigrationLock = 0x45564c4f4f50; // "EVLOOP"

    /// <summary>Each entry moves the schema from version i to i + 1; never edit one that shipped, append.</summary>
    private static readonly string[] Migrations =
    [
        """
        CREATE SEQUENCE eventloop_task_id START WITH {START};
        CREATE TABLE eventloop_tasks (
            id bigint PRIMARY KEY DEFAULT nextval('eventloop_task_id'),
            task text NOT NULL,
            queue text NOT NULL,
            in_process boolean NOT NULL,
            state smallint NOT NULL,
            priority smallint NOT NULL,
            attempt int NOT NULL DEFAULT 0,
            created_ms bigint NOT NULL,
            run_at_ms bigint NOT NULL,
            started_ms bigint NOT NULL DEFAULT 0,
            finished_ms bigint NOT NULL DEFAULT 0,
            retries int NOT NULL,
            backoff_ms int NOT NULL,
            timeout_ms int NOT NULL,
            result_ttl_s int NOT NULL,
            failures int NOT NULL DEFAULT 0,
            lease_losses int NOT NULL DEFAULT 0,
            key text,
            args bytea NOT NULL,
            result bytea,
            error text,
            lease_node text,
            lease_ms int NOT NULL DEFAULT 0,
            lease_until_ms bigint NOT NULL DEFAULT 0,
            expires_ms bigint NOT NULL DEFAULT 0);
        CREATE UNIQUE INDEX eventloop_tasks_key ON eventloop_tasks (key) WHERE key IS NOT NULL AND state < 4;
        CREATE INDEX eventloop_tasks_ready ON eventloop_tasks (queue, priority DESC, id) WHERE state IN (0, 1, 3) AND NOT in_process;
        CREATE INDEX eventloop_tasks_ready_here ON eventloop_tasks (priority DESC, id) WHERE state IN (0, 1, 3) AND in_process;
        CREATE INDEX eventloop_tasks_running ON eventloop_tasks (lease_until_ms) WHERE state = 2;
        CREATE INDEX eventloop_tasks_finished ON eventloop_tasks (expires_ms) WHERE state >= 4;
        """,
        AdministrationMigration,
    ];

    /// <summary>PostgreSQL's count of dead and live rows in the tasks table (what autovacuum also goes by).</summary>
    public const string DeadTaskRows = "SELECT n_dead_tup, n_live_tup FROM pg_stat_user_tables WHERE relid = 'eventloop_tasks'::regclass";

    /// <summary>The session whose snapshot is oldest (pid, state, seconds since its transaction began): what keeps a vacuum from removing rows.</summary>
    public const string OldestSnapshot = """
        SELECT pid, COALESCE(state, '?'), COALESCE(extract(epoch FROM now() - xact_start)::bigint, 0) FROM pg_stat_activity
        WHERE backend_xmin IS NOT NULL AND pid <> pg_backend_pid() ORDER BY age(backend_xmin) DESC LIMIT 1
        """;

    /// <summary>Removes dead rows and their index entries (<see cref="PostgresVacuum"/>); skips when another session vacuums the table.</summary>
    public const string VacuumTasks = "VACUUM (SKIP_LOCKED) eventloop_tasks";

    public const string ReadyChannel = "eventloop_ready";
    public const string DoneChannel = "eventloop_done";

    /// <summary>A finished task whose result expired is gone, whether or not the sweep has deleted its row yet.</summary>
    private const string Live = "NOT (state >= 4 AND expires_ms <= $2)";

    /// <summary>
    /// The highest priority of a task due now that this node's claim would take before a new one (-1: none): a
    /// SUBMIT stored claimed must not overtake it ($16 the node's handlers, the time as given). The same ordered walk
    /// of <c>eventloop_tasks_ready_here</c> as <see cref="ClaimForHandlers"/>, stopped at the first row.
    /// </summary>
    private static string AheadHere(string now) => $"""
        COALESCE((SELECT priority FROM eventloop_tasks
                  WHERE in_process AND task = ANY($16) AND state IN (0, 1, 3) AND run_at_ms <= {now} AND {NotPaused}
                  ORDER BY priority DESC, id LIMIT 1), -1)
        """;

    /// <summary>The columns a SUBMIT stored claimed (<paramref name="here"/>) starts with: its first attempt, leased to node $14 for $15 ms.</summary>
    private static string LeaseIf(string here, string now) =>
        $"CASE WHEN {here} THEN 1 ELSE 0 END, CASE WHEN {here} THEN {now} ELSE 0 END, CASE WHEN {here} THEN $14 END, " +
        $"CASE WHEN {here} THEN $15 ELSE 0 END, CASE WHEN {here} THEN {now} + $15 ELSE 0 END";

    private const string LeaseColumns = "attempt, started_ms, lease_node, lease_ms, lease_until_ms";

    /// <summary>
    /// SUBMIT ($1..$12; $13 this node has room to run it now, $14 node, $15 lease ms, $16 the node's handlers): answers
    /// the id, and whether the task was stored claimed by this node (running, attempt 1), which it is when $13 holds,
    /// it is due, its queue is not paused and no task due for these handlers has its priority or higher. With KEY,
    /// an unfinished task of that key answers instead (ON CONFLICT on the partial index).
    /// </summary>
    public static readonly string Submit = $"""
        WITH h AS (SELECT $13 AND $5 <= $4 AND $2 NOT IN (SELECT name FROM eventloop_queues WHERE paused) AND $6 > {AheadHere("$4")} AS here),
        ins AS (
            INSERT INTO eventloop_tasks (task, queue, in_process, state, priority, created_ms, run_at_ms, retries, backoff_ms, timeout_ms, result_ttl_s, key, args, {LeaseColumns})
            SELECT $1, $2, $3, CASE WHEN $5 > $4 THEN 0 WHEN here THEN 2 ELSE 1 END, $6, $4, GREATEST($4, $5), $7, $8, $9, $10, $11, $12, {LeaseIf("here", "$4")}
            FROM h
            ON CONFLICT (key) WHERE key IS NOT NULL AND state < 4 DO NOTHING RETURNING id, state)
        SELECT id, state = 2 FROM ins UNION ALL (SELECT id, false FROM eventloop_tasks WHERE key = $11 AND state < 4 LIMIT 1) LIMIT 1
        """;

    /// <summary>
    /// Consecutive SUBMITs of one batch as one statement ($1..$13: the columns of <see cref="Submit"/> as arrays; $14..$16
    /// as there; $17 the batch's time): the ids are drawn first so each row's answer is known by its position; a KEY
    /// taken by an unfinished task, or by an earlier row of the same statement, answers that task's id. The look for
    /// tasks ahead is made once for the statement, and only if a row may be claimed.
    /// </summary>
    public static readonly string SubmitMany = $"""
        WITH r AS (
            SELECT nextval('eventloop_task_id') AS id, u.*
            FROM unnest($1::text[], $2::text[], $3::boolean[], $4::bigint[], $5::bigint[], $6::smallint[], $7::int[], $8::int[], $9::int[],
                        $10::int[], $11::text[], $12::bytea[], $13::boolean[])
                 WITH ORDINALITY AS u(task, queue, in_process, now, run_at, priority, retries, backoff, timeout, ttl, key, args, claim, ord)),
        ahead AS (SELECT {AheadHere("$17")} AS priority),
        h AS (SELECT r.*, r.claim AND r.run_at <= r.now AND r.queue NOT IN (SELECT name FROM eventloop_queues WHERE paused)
                          AND r.priority > (SELECT priority FROM ahead) AS here FROM r),
        ins AS (
            INSERT INTO eventloop_tasks (id, task, queue, in_process, state, priority, created_ms, run_at_ms, retries, backoff_ms, timeout_ms, result_ttl_s, key, args, {LeaseColumns})
            SELECT id, task, queue, in_process, CASE WHEN run_at > now THEN 0 WHEN here THEN 2 ELSE 1 END, priority, now, GREATEST(now, run_at), retries, backoff, timeout, ttl, key, args,
                   {LeaseIf("here", "now")}
            FROM h ORDER BY ord
            ON CONFLICT (key) WHERE key IS NOT NULL AND state < 4 DO NOTHING RETURNING id, key, state)
        SELECT r.ord, COALESCE(i.id,
            (SELECT min(ins.id) FROM ins WHERE ins.key = r.key),
            (SELECT e.id FROM eventloop_tasks e WHERE e.key = r.key AND e.state < 4 LIMIT 1)), COALESCE(i.state = 2, false)
        FROM r LEFT JOIN ins i ON i.id = r.id ORDER BY r.ord
        """;

    /// <summary>STATUS and RESULT ($1 id, $2 now): a scheduled or retrying task past its time reads as queued, as it would in memory.</summary>
    public const string Find = $"""
        SELECT id, task, queue, CASE WHEN state IN (0, 3) AND run_at_ms <= $2 THEN 1 ELSE state END, attempt, priority,
               created_ms, run_at_ms, started_ms, finished_ms, error, result
        FROM eventloop_tasks WHERE id = $1 AND {Live}
        """;

    /// <summary>Consecutive STATUS and RESULT reads of one batch ($1 ids, $2 now): <see cref="Find"/>'s row per id, in order (all nulls: unknown).</summary>
    public const string FindMany = $"""
        SELECT t.id, t.task, t.queue, CASE WHEN t.state IN (0, 3) AND t.run_at_ms <= $2 THEN 1 ELSE t.state END, t.attempt, t.priority,
               t.created_ms, t.run_at_ms, t.started_ms, t.finished_ms, t.error, t.result
        FROM unnest($1::bigint[]) WITH ORDINALITY AS f(id, ord)
             LEFT JOIN eventloop_tasks t ON t.id = f.id AND NOT (t.state >= 4 AND t.expires_ms <= $2)
        ORDER BY f.ord
        """;

    /// <summary>WAIT and the safety poll ($1 ids, $2 now): which of these are finished (a missing id counts as neither).</summary>
    public const string Finished = $"SELECT id FROM eventloop_tasks WHERE id = ANY($1) AND state >= 4 AND {Live}";

    /// <summary>
    /// The tick's look for blocked FETCHes ($1 the queues they read, $2 now): which of them have a task to claim. One
    /// statement a tick for every blocked fetcher of the node, instead of a claim each: a delayed task becomes due
    /// without a NOTIFY, and this also covers a notification that was lost.
    /// </summary>
    public const string QueuesWithWork = """
        SELECT q.name FROM unnest($1::text[]) AS q(name)
        WHERE q.name NOT IN (SELECT name FROM eventloop_queues WHERE paused)
          AND EXISTS (SELECT 1 FROM eventloop_tasks WHERE queue = q.name AND NOT in_process AND state IN (0, 1, 3) AND run_at_ms <= $2)
        """;

    /// <summary>WAIT ($1 ids, $2 now): which of these exist at all.</summary>
    public const string Known = $"SELECT id, state >= 4 FROM eventloop_tasks WHERE id = ANY($1) AND {Live}";

    /// <summary>CANCEL ($1 id, $2 now): cancelled (1 row updated), already finished (exists), or unknown.</summary>
    public const string Cancel = $"""
        WITH u AS (UPDATE eventloop_tasks SET state = 6, finished_ms = $2, expires_ms = $2 + result_ttl_s * 1000::bigint
                   WHERE id = $1 AND state < 4 RETURNING id)
        SELECT (SELECT count(*) FROM u), EXISTS (SELECT 1 FROM eventloop_tasks WHERE id = $1 AND {Live})
        """;

    /// <summary>
    /// FETCH ($1 queues, $2 now, $3 count, $4 lease ms, $5 node): tasks no handler here runs, SKIP LOCKED so that
    /// nodes claiming together never wait for each other; highest priority first, then the queues in the order listed,
    /// then oldest first, as in memory. One ordered index walk per queue (PostgreSQL before 17 cannot
    /// walk <c>queue = ANY(…)</c> in index order: it would sort the queues' whole backlog for every FETCH); each walk
    /// locks at most $3 rows, so a FETCH from several queues with work briefly holds more than it takes.
    /// </summary>
    public static readonly string ClaimFromQueues = Claim($"""
        SELECT r.id, q.ord AS rank FROM unnest($1::text[]) WITH ORDINALITY AS q(name, ord) CROSS JOIN LATERAL (
            SELECT id, priority FROM eventloop_tasks
            WHERE queue = q.name AND NOT in_process AND state IN (0, 1, 3) AND run_at_ms <= $2 AND {NotPaused}
            ORDER BY priority DESC, id LIMIT $3 FOR UPDATE SKIP LOCKED) r
        ORDER BY r.priority DESC, q.ord, r.id LIMIT $3
        """);

    /// <summary>The in-process workers' claim ($1 the task names this node runs, then as <see cref="ClaimFromQueues"/>), from any queue.</summary>
    public static readonly string ClaimForHandlers = Claim($"""
        SELECT id, 0 AS rank FROM eventloop_tasks
        WHERE in_process AND task = ANY($1) AND state IN (0, 1, 3) AND run_at_ms <= $2 AND {NotPaused}
        ORDER BY priority DESC, id LIMIT $3 FOR UPDATE SKIP LOCKED
        """);

    /// <summary>Claims the candidates (id, rank: the listed queue's place); an UPDATE returns rows in no set order, so they are sorted after.</summary>
    private static string Claim(string candidates) => $"""
        WITH c AS ({candidates}),
             u AS (UPDATE eventloop_tasks t SET state = 2, attempt = t.attempt + 1, started_ms = $2, lease_node = $5, lease_ms = $4, lease_until_ms = $2 + $4
                   FROM c WHERE t.id = c.id
                   RETURNING t.id, t.attempt, t.task, t.queue, t.args, t.priority, c.rank)
        SELECT id, attempt, task, queue, args, priority FROM u ORDER BY priority DESC, rank, id
        """;

    /// <summary>
    /// The four ways a delivery is settled share one shape ($1 id, $2 attempt, $3 now, then the verb's own): the
    /// update is fenced by (running, attempt); the row as it was tells -CANCELLED from -STALE when nothing changed, and
    /// the outcome (state, result, error) answers this node's parked RESULTs without asking again. No row: unknown id.
    /// </summary>
    private static string Settle(string set) => $"""
        WITH cur AS (SELECT state, attempt FROM eventloop_tasks WHERE id = $1),
             u AS (UPDATE eventloop_tasks SET {set} WHERE id = $1 AND state = 2 AND attempt = $2 RETURNING state, queue, result, error)
        SELECT u.state, u.queue, u.result, u.error, cur.state, cur.attempt FROM cur LEFT JOIN u ON true
        """;

    private const string EndLease = "lease_node = NULL, lease_until_ms = 0";

    /// <summary>ACK ($4 the RESP bulk of the result).</summary>
    public static readonly string Ack = Settle($"state = 4, result = $4, finished_ms = $3, expires_ms = $3 + result_ttl_s * 1000::bigint, lease_losses = 0, {EndLease}");

    /// <summary>
    /// Consecutive ACKs of one batch as one statement ($1 ids, $2 attempts, $3 results, $4 now; no id twice): per row,
    /// in order, what <see cref="Ack"/>'s shape answers. A lifecycle settles with one statement per batch, not per task.
    /// The row as it was is read only for an ACK that changed nothing (to tell -CANCELLED, -STALE and an unknown id
    /// apart; the statement's snapshot still shows it as it was): one that settled was running at its attempt, and
    /// a second index lookup per settled task was a fifth of the statement's buffer reads. (OFFSET 0 keeps the planner
    /// from turning the lateral subquery into a join that looks every row up and filters after: kept whole, its
    /// <c>u.ord IS NULL</c> is checked before its index scan runs.)
    /// </summary>
    public const string AckMany = """
        WITH a AS (SELECT * FROM unnest($1::bigint[], $2::int[], $3::bytea[]) WITH ORDINALITY AS a(id, attempt, result, ord)),
             u AS (UPDATE eventloop_tasks t SET state = 4, result = a.result, finished_ms = $4, expires_ms = $4 + t.result_ttl_s * 1000::bigint,
                          lease_losses = 0, lease_node = NULL, lease_until_ms = 0
                   FROM a WHERE t.id = a.id AND t.state = 2 AND t.attempt = a.attempt RETURNING a.ord, t.state, t.queue, t.result, t.error)
        SELECT u.state, u.queue, u.result, u.error,
               CASE WHEN u.ord IS NULL THEN cur.state ELSE 2::smallint END, CASE WHEN u.ord IS NULL THEN cur.attempt ELSE a.attempt END
        FROM a LEFT JOIN u ON u.ord = a.ord
             LEFT JOIN LATERAL (SELECT t.state, t.attempt FROM eventloop_tasks t WHERE u.ord IS NULL AND t.id = a.id OFFSET 0) cur ON true
        ORDER BY a.ord
        """;

    /// <summary>
    /// FAIL, a handler's failure and a timeout ($4 error, $5 retry allowed, $6 dead-set ms): retrying after
    /// BACKOFF × 2^(failures−1) jittered within ½–1½× and capped at an hour, as in memory; else failed.
    /// </summary>
    public static readonly string Fail = Settle($"""
        failures = failures + 1, error = $4, lease_losses = 0, {EndLease},
        state = CASE WHEN $5 AND failures + 1 <= retries THEN 3 ELSE 5 END,
        run_at_ms = CASE WHEN $5 AND failures + 1 <= retries
            THEN $3 + LEAST(3600000, LEAST(3600000, backoff_ms * power(2, LEAST(30, failures))) * (0.5 + random()))::bigint ELSE run_at_ms END,
        finished_ms = CASE WHEN $5 AND failures + 1 <= retries THEN 0 ELSE $3 END,
        expires_ms = CASE WHEN $5 AND failures + 1 <= retries THEN 0 ELSE $3 + $6 END
        """);

    /// <summary>NACK ($4 delay ms): back to its queue without a failure.</summary>
    public static readonly string Nack = Settle($"state = CASE WHEN $4 > 0 THEN 0 ELSE 1 END, run_at_ms = $3 + $4, lease_losses = 0, {EndLease}");

    /// <summary>TOUCH ($4 lease ms, 0: as long as it was).</summary>
    public static readonly string Touch = Settle("lease_ms = CASE WHEN $4 > 0 THEN $4 ELSE lease_ms END, lease_until_ms = $3 + CASE WHEN $4 > 0 THEN $4 ELSE lease_ms END");

    /// <summary>
    /// Deliveries lost ($1 ids, $2 attempts, $3 now, $4 reason, $5 max lease losses, $6 dead-set ms, $7 counts as a loss):
    /// back to the queue as a new delivery, or failed after --max-lease-losses in a row.
    /// </summary>
    public const string Lose = """
        UPDATE eventloop_tasks t SET lease_losses = t.lease_losses + $7::int, lease_node = NULL, lease_until_ms = 0,
            state = CASE WHEN t.lease_losses + $7::int >= $5 THEN 5 ELSE 1 END,
            error = CASE WHEN t.lease_losses + $7::int >= $5 THEN 'lease lost ' || (t.lease_losses + $7::int) || ' times' ELSE COALESCE($4, t.error) END,
            finished_ms = CASE WHEN t.lease_losses + $7::int >= $5 THEN $3 ELSE 0 END,
            expires_ms = CASE WHEN t.lease_losses + $7::int >= $5 THEN $3 + $6 ELSE 0 END
        FROM unnest($1::bigint[], $2::int[]) AS l(id, attempt)
        WHERE t.id = l.id AND t.attempt = l.attempt AND t.state = 2
        RETURNING t.id, t.state, t.queue
        """;

    /// <summary>
    /// The sweep every node runs on its tick ($1 now, $2 max lease losses, $3 dead-set ms): leases of any node that
    /// ran out (a node that died leaves these) go back to their queues; attempts past their TIMEOUT fail.
    /// </summary>
    public const string ExpireLeases = """
        UPDATE eventloop_tasks t SET lease_losses = t.lease_losses + 1, lease_node = NULL, lease_until_ms = 0,
            state = CASE WHEN t.lease_losses + 1 >= $2 THEN 5 ELSE 1 END,
            error = CASE WHEN t.lease_losses + 1 >= $2 THEN 'lease lost ' || (t.lease_losses + 1) || ' times' ELSE 'lease expired after ' || t.lease_ms || ' ms' END,
            finished_ms = CASE WHEN t.lease_losses + 1 >= $2 THEN $1 ELSE 0 END,
            expires_ms = CASE WHEN t.lease_losses + 1 >= $2 THEN $1 + $3 ELSE 0 END
        WHERE t.id IN (SELECT id FROM eventloop_tasks WHERE state = 2 AND lease_until_ms < $1 FOR UPDATE SKIP LOCKED)
        RETURNING t.id, t.state, t.queue
        """;

    /// <summary>The sweep's second half ($1 now, $2 dead-set ms): attempts past their TIMEOUT fail as FAIL would (with retries).</summary>
    public static readonly string TimeOut = $"""
        WITH due AS (SELECT id, attempt FROM eventloop_tasks WHERE state = 2 AND timeout_ms > 0 AND started_ms + timeout_ms < $1 FOR UPDATE SKIP LOCKED)
        UPDATE eventloop_tasks t SET failures = t.failures + 1, error = 'timed out after ' || t.timeout_ms || ' ms', lease_losses = 0, {EndLease},
            state = CASE WHEN t.failures + 1 <= t.retries THEN 3 ELSE 5 END,
            run_at_ms = CASE WHEN t.failures + 1 <= t.retries
                THEN $1 + LEAST(3600000, LEAST(3600000, t.backoff_ms * power(2, LEAST(30, t.failures))) * (0.5 + random()))::bigint ELSE t.run_at_ms END,
            finished_ms = CASE WHEN t.failures + 1 <= t.retries THEN 0 ELSE $1 END,
            expires_ms = CASE WHEN t.failures + 1 <= t.retries THEN 0 ELSE $1 + $2 END
        FROM due WHERE t.id = due.id
        RETURNING t.id, t.state, t.queue
        """;

    /// <summary>
    /// The node's in-process attempts are alive ($1 node, $2 now, $3 lease ms, $4 the ids it runs or is settling):
    /// renewed every second. Only those: a claim whose answer was lost leaves rows no run holds, and they must expire.
    /// </summary>
    public const string RenewNode = """
        WITH u AS (UPDATE eventloop_tasks SET lease_until_ms = $2 + $3
                   WHERE id IN (SELECT id FROM eventloop_tasks WHERE id = ANY($4) AND state = 2 AND lease_node = $1 FOR UPDATE SKIP LOCKED)
                   RETURNING 1)
        SELECT count(*) FROM u
        """;

    /// <summary>Results past their RESULT-TTL and dead tasks past --dead-ttl ($1 now).</summary>
    public const string Expire = """
        WITH d AS (DELETE FROM eventloop_tasks WHERE id IN (SELECT id FROM eventloop_tasks WHERE state >= 4 AND expires_ms <= $1 LIMIT 1000 FOR UPDATE SKIP LOCKED) RETURNING 1)
        SELECT count(*) FROM d
        """;

    /// <summary>Wakes the other nodes ($1 channel, $2 payload): delivered at commit.</summary>
    public const string Notify = "SELECT pg_notify($1, $2)";

    /// <summary>
    /// A message as a <c>text</c> column can hold it: PostgreSQL's text has no NUL character, and a statement carrying
    /// one fails every time (an in-process run's failure whose message had one was retried forever, its task left
    /// running). Each NUL becomes U+FFFD, the replacement character, as invalid UTF-8 already does.
    /// </summary>
    public static string Storable(string message) => message.Contains('\0') ? message.Replace('\0', '\uFFFD') : message;

    /// <summary>Creates or migrates the schema to the latest version; returns the version found before.</summary>
    public static int Migrate(NpgsqlConnection connection, long firstId)
    {
        using NpgsqlTransaction transaction = connection.BeginTransaction();
        Execute(connection, transaction, $"SELECT pg_advisory_xact_lock({MigrationLock})");
        Execute(connection, transaction, "CREATE TABLE IF NOT EXISTS eventloop_schema (version int NOT NULL)");
        using var read = new NpgsqlCommand("SELECT max(version) FROM eventloop_schema", connection, transaction);
        int found = read.ExecuteScalar() is int version ? version : 0;
        if (found > Migrations.Length)
            throw new InvalidOperationException($"the database's schema is version {found}, newer than this server's {Migrations.Length}: upgrade the server");
        for (int next = found; next < Migrations.Length; next++)
            Execute(connection, transaction, Migrations[next].Replace("{START}", firstId.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        if (found < Migrations.Length)
        {
            Execute(connection, transaction, "DELETE FROM eventloop_schema");
            Execute(connection, transaction, $"INSERT INTO eventloop_schema VALUES ({Migrations.Length})");
        }
        transaction.Commit();
        return found;
    }

    private static void Execute(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql)
    {
        using var command = new NpgsqlCommand(sql, connection, transaction);
        command.ExecuteNonQuery();
    }
}
