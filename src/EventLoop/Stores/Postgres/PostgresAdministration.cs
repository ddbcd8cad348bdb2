using System.Buffers;
using System.Buffers.Text;
using System.Text;
using EventLoop.Protocol;
using EventLoop.Queueing;
using EventLoop.Reactor;
using EventLoop.Tasks;
using Npgsql;

namespace EventLoop.Stores.Postgres;

/// <summary>
/// The administration verbs on PostgreSQL (QUEUES, QUEUE PAUSE/RESUME, DEAD …, SCHEDULE …), each one statement of
/// <see cref="PostgresSchema"/> answered in the request's reply slot, and the --max-tasks estimate. Reactor-owned.
/// </summary>
internal sealed partial class PostgresQueueStore
{
    private static ReadOnlySpan<byte> Ok => "+OK\r\n"u8;

    /// <summary>Rows the last count found (at most --max-tasks' worth), and the SUBMITs this node let through since that count was taken.</summary>
    private long _tasksCounted, _submittedSince, _submittedWhenCounted;
    private CountRequest? _count;
    /// <summary>Read by the schedule leader's thread: a firing is skipped while the queue is full, as in memory.</summary>
    private volatile bool _full;

    public void Queues(Connection connection) =>
        Administer(connection, PostgresSchema.Queues, [Now], static (reader, writer) =>
        {
            List<(string Name, long Queued, long Running, long Waiting, bool Paused)> rows = [];
            while (reader.Read())
                rows.Add((reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetBoolean(4)));
            RespWriter.WriteArrayHeader(writer, rows.Count);
            foreach ((string name, long queued, long running, long waiting, bool paused) in rows)
            {
                RespWriter.WriteArrayHeader(writer, 5);
                RespWriter.WriteBulkString(writer, name);
                RespWriter.WriteInteger(writer, queued);
                RespWriter.WriteInteger(writer, running);
                RespWriter.WriteInteger(writer, waiting);
                RespWriter.WriteInteger(writer, paused ? 1 : 0);
            }
            return null;
        });

    /// <summary>A resumed queue may hold ready work: this node's fetchers and workers look, and the other nodes are told.</summary>
    public void Pause(Connection connection, ReadOnlySpan<byte> queue, bool paused)
    {
        string name = Encoding.Latin1.GetString(queue);
        Administer(connection, PostgresSchema.Pause, [name, paused], (reader, writer) =>
        {
            reader.Read();
            writer.Write(Ok);
            return paused ? null : name;
        });
    }

    public void ListDead(Connection connection, string? queue, long count) =>
        Administer(connection, PostgresSchema.ListDead, [queue, count, Now], static (reader, writer) =>
        {
            List<long> ids = [];
            while (reader.Read())
                ids.Add(reader.GetInt64(0));
            RespWriter.WriteArrayHeader(writer, ids.Count);
            foreach (long id in ids)
                WriteId(writer, id);
            return null;
        });

    public void Dead(Connection connection, ReadOnlySpan<byte> id, bool retry)
    {
        if (!TryId(id, out long number))
        {
            RespWriter.WriteInteger(_reactor.BeginReply(connection), 0); // not an id this store hands out: not in its dead set
            return;
        }
        if (retry)
            Administer(connection, PostgresSchema.RetryDead, [number, Now], static (reader, writer) =>
            {
                string? queue = reader.Read() ? reader.GetString(0) : null;
                RespWriter.WriteInteger(writer, queue is null ? 0 : 1);
                return queue;
            });
        else
            Administer(connection, PostgresSchema.DropDead, [number, Now], Count);
    }

    public void AddSchedule(Connection connection, ScheduleDefinition definition, Schedule schedule)
    {
        TaskTemplate template = definition.Template;
        bool inProcess = _tasks.TryGet(Encoding.UTF8.GetBytes(template.Task), out TaskDefinition? handler) && handler!.IsInProcess;
        int timeout = template.TimeoutMs > 0 ? template.TimeoutMs : (int)Math.Min(int.MaxValue, Options.TaskTimeout.TotalMilliseconds);
        int maxSchedules = Options.MaxSchedules;
        Administer(connection, PostgresSchema.AddSchedule,
            [definition.Name, schedule.Spec, definition.EveryMs, definition.Cron, definition.ZoneName, template.Task, template.Queue, inProcess,
             (short)template.Priority, template.Retries, template.BackoffMs, timeout, template.ResultTtlSeconds, template.Arguments,
             schedule.NextAfter(Now)!.Value, (long)maxSchedules],
            (reader, writer) =>
            {
                reader.Read();
                if (reader.GetInt64(0) > 0)
                    writer.Write(Ok);
                else
                    RespWriter.WriteError(writer, $"FULL max-schedules ({maxSchedules}) reached");
                return null;
            });
    }

    public void RemoveSchedule(Connection connection, string name) => Administer(connection, PostgresSchema.RemoveSchedule, [name], Count);

    public void ListSchedules(Connection connection) =>
        Administer(connection, PostgresSchema.ListSchedules, [], static (reader, writer) =>
        {
            List<(string Name, string Spec, string Task, long Next)> rows = [];
            while (reader.Read())
                rows.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3)));
            RespWriter.WriteArrayHeader(writer, rows.Count);
            foreach ((string name, string spec, string task, long next) in rows)
            {
                RespWriter.WriteArrayHeader(writer, 4);
                RespWriter.WriteBulkString(writer, name);
                RespWriter.WriteBulkString(writer, spec);
                RespWriter.WriteBulkString(writer, task);
                RespWriter.WriteInteger(writer, next);
            }
            return null;
        });

    /// <summary>The dashboard's changes: the statements of QUEUE PAUSE/RESUME, DEAD RETRY and DEAD DROP, answered through <paramref name="done"/>.</summary>
    public void Change(QueueChange change, string target, TaskCompletionSource<bool> done)
    {
        if (change is QueueChange.Pause or QueueChange.Resume)
        {
            bool paused = change == QueueChange.Pause;
            Enqueue(new ChangeRequest(this, PostgresSchema.Pause, [target, paused], reader => (reader.Read(), paused ? null : target), done));
        }
        else if (!TryId(Encoding.UTF8.GetBytes(target), out long number))
            done.TrySetResult(false); // not an id this store hands out: not in its dead set
        else if (change == QueueChange.RetryDead)
            Enqueue(new ChangeRequest(this, PostgresSchema.RetryDead, [number, Now], reader => reader.Read() ? (true, reader.GetString(0)) : (false, null), done));
        else
            Enqueue(new ChangeRequest(this, PostgresSchema.DropDead, [number, Now], reader => (reader.Read() && reader.GetInt64(0) > 0, null), done));
    }

    private void Administer(Connection connection, string sql, object?[] values, Func<NpgsqlDataReader, IBufferWriter<byte>, string?> render) =>
        Enqueue(new AdministrationRequest(new StoreReply(_reactor, connection, StoreReply.NotAnsweredYet), this, sql, values, render));

    /// <summary>A one-row count (rows deleted or removed) as the integer reply.</summary>
    private static string? Count(NpgsqlDataReader reader, IBufferWriter<byte> writer)
    {
        reader.Read();
        RespWriter.WriteInteger(writer, reader.GetInt64(0));
        return null;
    }

    private static void WriteId(IBufferWriter<byte> writer, long id)
    {
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(id, digits, out int length);
        RespWriter.WriteBulkString(writer, digits[..length]);
    }

    // ---------------------------------------------------------------- --max-tasks

    /// <summary>
    /// SUBMIT past --max-tasks answers -FULL without asking the database: the estimate is the last count plus this
    /// node's SUBMITs since, so it is exact on one node and approximate across nodes (another node's SUBMITs are seen
    /// at the next count). A SUBMIT whose KEY names an unfinished task is refused too while full.
    /// </summary>
    private bool RefusedAsFull(Connection connection)
    {
        if (_tasksCounted + _submittedSince < Options.MaxTasks)
        {
            _submittedSince++;
            _full = _tasksCounted + _submittedSince >= Options.MaxTasks;
            return false;
        }
        RespWriter.WriteError(_reactor.BeginReply(connection), $"FULL max-tasks ({Options.MaxTasks}) reached");
        return true;
    }

    /// <summary>
    /// The tick's count: every second once the estimate passes half the limit (expired results free room, other nodes
    /// add tasks), every 10 s below it. One bounded count, never one per SUBMIT.
    /// </summary>
    private void CountTasksIfDue()
    {
        bool near = 2 * (_tasksCounted + _submittedSince) >= Options.MaxTasks;
        if (_ticks % (near ? 4 : 40) != 1 || _count is { InFlight: true })
            return;
        _count ??= new CountRequest(this);
        _submittedWhenCounted = _submittedSince;
        Enqueue(_count);
    }

    /// <summary>The count came back: SUBMITs let through after it was taken still add to it.</summary>
    private void Counted(long rows)
    {
        _tasksCounted = rows;
        _submittedSince -= _submittedWhenCounted;
        _full = _tasksCounted + _submittedSince >= Options.MaxTasks;
    }

    private sealed class CountRequest(PostgresQueueStore store) : StoreRequest
    {
        private long _now, _rows;

        public override void Prepare(long now) => _now = now;

        public override void AddTo(NpgsqlBatch batch) => batch.BatchCommands.Add(Command(PostgresSchema.CountTasks, (long)store.Options.MaxTasks, _now));

        public override void Read(NpgsqlDataReader reader)
        {
            reader.Read();
            _rows = reader.GetInt64(0);
        }

        public override void Complete()
        {
            if (Failure is null)
                store.Counted(_rows);
        }
    }
}

/// <summary>
/// An administration verb's one statement. Its rows are rendered on the store thread into a buffer of the request's
/// own (the reply slot belongs to the reactor), and copied into the slot on the reactor. A render that names a queue
/// (QUEUE RESUME, DEAD RETRY) means work may be ready there: this node looks and the others are told.
/// </summary>
internal sealed class AdministrationRequest(StoreReply reply, PostgresQueueStore store, string sql, object?[] values,
    Func<NpgsqlDataReader, IBufferWriter<byte>, string?> render) : ReplyRequest(reply)
{
    private readonly ArrayBufferWriter<byte> _rendered = new();
    private string? _ready;

    public override void AddTo(NpgsqlBatch batch) => batch.BatchCommands.Add(Command(sql, values));

    public override void Read(NpgsqlDataReader reader)
    {
        _rendered.ResetWrittenCount();
        _ready = render(reader, _rendered);
    }

    protected override void Answer()
    {
        Reply.Writer.Write(_rendered.WrittenSpan);
        Reply.Send();
        if (_ready is not null)
            store.BecameReady(_ready, inProcess: null, Order);
    }
}

/// <summary>
/// A dashboard change's one statement (<see cref="PostgresQueueStore.Change"/>): <c>read</c> says on the store thread
/// whether the change was made and which queue may now hold ready work; the reactor then answers the HTTP request.
/// </summary>
internal sealed class ChangeRequest(PostgresQueueStore store, string sql, object?[] values,
    Func<NpgsqlDataReader, (bool Made, string? Ready)> read, TaskCompletionSource<bool> done) : StoreRequest
{
    private (bool Made, string? Ready) _outcome;

    public override void AddTo(NpgsqlBatch batch) => batch.BatchCommands.Add(Command(sql, values));

    public override void Read(NpgsqlDataReader reader) => _outcome = read(reader);

    public override void Complete()
    {
        if (Failure is not null)
        {
            done.TrySetException(new InvalidOperationException($"store: {Failure}"));
            return;
        }
        done.TrySetResult(_outcome.Made);
        if (_outcome.Ready is { } queue)
            store.BecameReady(queue, inProcess: null, Order);
    }
}
