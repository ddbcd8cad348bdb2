using System.Buffers;
using EventLoop.Commands;
using EventLoop.Protocol;
using EventLoop.Queueing;
using Npgsql;

namespace EventLoop.Stores.Postgres;

/// <summary>A request whose answer is one client's reply, in its slot; a failed statement answers <c>-ERR store: …</c>.</summary>
internal abstract class ReplyRequest(StoreReply reply) : StoreRequest
{
    protected StoreReply Reply { get; } = reply;

    /// <summary>Reactor: something this parked request waits for may have happened while its statement was out; ask again now.</summary>
    protected void RequeryIfAsked()
    {
        if (Again)
        {
            Again = false;
            ((IRequery)this).Requery();
        }
    }

    public sealed override void Complete()
    {
        if (!Reply.Open)
        {
            Abandoned();
            return;
        }
        if (Failure is not null)
        {
            Failed();
            RespWriter.WriteError(Reply.Writer, $"ERR store: {Failure}");
            Reply.Send();
            return;
        }
        Answer();
    }

    /// <summary>Reactor: writes the answer and sends it, or keeps the reply parked (RESULT … TIMEOUT, FETCH … BLOCK).</summary>
    protected abstract void Answer();

    /// <summary>Reactor: the client is gone (or the server stopped) before the answer came: undo what must not stay.</summary>
    protected virtual void Abandoned()
    {
    }

    /// <summary>Reactor: the statement failed; its error is about to be the answer.</summary>
    protected virtual void Failed()
    {
    }
}

/// <summary>
/// SUBMIT: one INSERT (or a row of <see cref="SubmitBatch"/>'s); answers the id. With <paramref name="claimHere"/>
/// (room reserved in <see cref="InProcessRuns"/>) the row may come back stored claimed by this node, and its run starts
/// at once.
/// </summary>
internal sealed class SubmitRequest(StoreReply reply, PostgresQueueStore store, object?[] values, string queue, bool ready, bool inProcess, bool claimHere)
    : ReplyRequest(reply)
{
    private long _id;
    private bool _claimed;

    /// <summary>The statement's parameters, in <see cref="PostgresSchema.Submit"/>'s order (the first twelve).</summary>
    public object?[] Values => values;

    /// <summary>Room is reserved for this task here: the statement may store it claimed.</summary>
    public bool ClaimHere => claimHere;

    /// <summary>Due now, for one of this node's handlers: a task the node's claim would take.</summary>
    public bool ReadyHere => ready && inProcess;

    /// <summary>The node that would hold the lease (immutable, so the store thread may read it).</summary>
    public string Node => store.Node;

    /// <summary>The node's handlers, whose due tasks a SUBMIT stored claimed must not overtake (immutable).</summary>
    public string[] Names => store.Runs.Names;

    public override void AddTo(NpgsqlBatch batch) =>
        batch.BatchCommands.Add(Command(PostgresSchema.Submit, [.. values, claimHere, Node, InProcessRuns.LeaseMs, Names]));

    public override void Read(NpgsqlDataReader reader)
    {
        if (reader.Read() && !reader.IsDBNull(0))
            Answered(reader.GetInt64(0), reader.GetBoolean(1));
        else
            Answered(null, false);
    }

    /// <summary>Store thread: the id the statement returned (null: none), and whether the row was stored claimed here.</summary>
    public void Answered(long? id, bool claimed)
    {
        _claimed = claimed;
        if (id is { } known)
            _id = known;
        else
            Failure = "KEY was taken by a task submitted at the same moment on another node: submit again";
    }

    protected override void Answer()
    {
        RespWriter.WriteBulkString(Reply.Writer, _id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Reply.Send();
        Stored();
    }

    /// <summary>The client left first: the task is stored all the same, and runs.</summary>
    protected override void Abandoned()
    {
        if (Failure is null)
            Stored();
        else
            Failed();
    }

    protected override void Failed()
    {
        if (claimHere)
            store.Runs.Unreserve(null); // a row stored claimed all the same is not renewed: its lease expires and it goes back
    }

    /// <summary>Starts the run of a row stored claimed here, or tells whoever claims that a task became ready.</summary>
    private void Stored()
    {
        if (claimHere)
            store.Runs.Unreserve(_claimed ? new ClaimedRow(_id, 1, (string)values[0]!, queue, (byte[])values[11]!, (short)values[5]!) : null);
        if (ready && !_claimed)
            store.BecameReady(queue, inProcess, Order);
    }
}

/// <summary>One task's row as STATUS and RESULT read it, made into a detached record the reply writers take.</summary>
internal static class TaskRow
{
    public static TaskRecord? Read(NpgsqlDataReader reader, PostgresQueueStore store) => reader.Read() ? Current(reader, store) : null;

    /// <summary>The row the reader is on (null when its id is: <see cref="PostgresSchema.FindMany"/>'s row for an unknown id).</summary>
    public static TaskRecord? Current(NpgsqlDataReader reader, PostgresQueueStore store)
    {
        if (reader.IsDBNull(0))
            return null;
        return store.Detached(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(11) ? null : reader.GetFieldValue<byte[]>(11),
            state: (TaskState)reader.GetInt16(3), attempt: reader.GetInt32(4), priority: reader.GetInt16(5), created: reader.GetInt64(6),
            runAt: reader.GetInt64(7), started: reader.GetInt64(8), finished: reader.GetInt64(9), error: reader.IsDBNull(10) ? null : reader.GetString(10));
    }
}

/// <summary>STATUS id and RESULT id [TIMEOUT ms]: one SELECT; a RESULT with TIMEOUT on an unfinished task waits for a NOTIFY and asks again.</summary>
internal sealed class FindRequest(StoreReply reply, PostgresQueueStore store, long id, bool status, long timeoutMs) : ReplyRequest(reply), IStoreWaiter
{
    private TaskRecord? _task;
    private bool _waiting;
    private long _now;

    /// <summary>The state last read: what a RESULT that times out answers (-PENDING state).</summary>
    public TaskRecord? Last { get; private set; }

    public override void Prepare(long now) => _now = now;

    public long Id => id;

    public long Now => _now;

    /// <summary>
    /// A RESULT that may wait: a waiter from before its first read, since the task may finish (a settle on the runs
    /// connection, another node's NOTIFY) while that read is out, after its snapshot; the read would then say running
    /// and nothing would wake it until the safety poll, a second later.
    /// </summary>
    public bool Waits => !status && timeoutMs >= 0;

    public override void AddTo(NpgsqlBatch batch) => batch.BatchCommands.Add(Command(PostgresSchema.Find, id, _now));

    /// <summary>Store thread: this request's row of <see cref="FindBatch"/>'s statement.</summary>
    public void ReadRow(NpgsqlDataReader reader) => _task = reader.Read() ? TaskRow.Current(reader, store) : null;

    public override void Read(NpgsqlDataReader reader)
    {
        _task = null;
        try
        {
            _task = TaskRow.Read(reader, store);
        }
        finally
        {
            while (reader.Read())
            {
            }
        }
    }

    protected override void Answer()
    {
        Last = _task ?? Last;
        if (status)
        {
            if (_task is null)
                RespWriter.WriteNullBulkString(Reply.Writer);
            else
                QueueReplies.WriteStatus(Reply.Writer, _task);
        }
        else if (_task is null)
        {
            RespWriter.WriteNullBulkString(Reply.Writer);
        }
        else if (_task.State.IsFinished() || timeoutMs < 0)
        {
            QueueReplies.WriteResult(Reply.Writer, _task);
        }
        else
        {
            if (!_waiting)
            {
                _waiting = true;
                Reply.ExpireAfter(timeoutMs, store.Clock);
            }
            RequeryIfAsked();
            return;
        }
        Reply.Send();
    }

    public void Requery() => store.Requery(this, Reply);

    /// <summary>Finished here: the outcome answers at once; finished on another node (or unknown how): read it again.</summary>
    public void Finished(long finished, Outcome? outcome)
    {
        if (outcome is null || InFlight || Last is null || !Reply.Open)
        {
            Requery();
            return;
        }
        Last.State = outcome.State;
        Last.Result = outcome.Result;
        Last.Error = outcome.Error;
        QueueReplies.WriteResult(Reply.Writer, Last);
        Reply.Send();
    }

    /// <summary>The deadline: -PENDING with the state last read.</summary>
    public void WriteTimedOut(IBufferWriter<byte> writer)
    {
        if (Last is null)
            StoreReply.NotAnsweredYet(writer);
        else
            QueueReplies.WriteResult(writer, Last);
    }
}

/// <summary>How a task finished, as the statement that finished it returned it: enough for RESULT without asking again.</summary>
internal sealed record Outcome(TaskState State, byte[]? Result, string? Error);

/// <summary>A parked request that looks again when what it waits for may have happened.</summary>
internal interface IRequery
{
    void Requery();
}

/// <summary>A parked request told when one of its tasks finished (with the outcome when this node finished it).</summary>
internal interface IStoreWaiter : IRequery
{
    void Finished(long id, Outcome? outcome);
}

/// <summary>
/// WAIT timeout id…: one SELECT over the ids; parked until each listed id is finished or the deadline. A waiter on every
/// id from before the first read, as <see cref="FindRequest.Waits"/> says why.
/// </summary>
internal sealed class WaitRequest(StoreReply reply, PostgresQueueStore store, long[] ids, long timeoutMs) : ReplyRequest(reply), IStoreWaiter
{
    private readonly Dictionary<long, bool> _found = [];
    private bool _waiting;
    private long _now;

    /// <summary>Listed occurrences counted as finished when last read: what the deadline answers.</summary>
    public int Counted { get; private set; }

    public override void Prepare(long now) => _now = now;

    public override void AddTo(NpgsqlBatch batch) => batch.BatchCommands.Add(Command(PostgresSchema.Known, ids, _now));

    public override void Read(NpgsqlDataReader reader)
    {
        _found.Clear();
        while (reader.Read())
            _found[reader.GetInt64(0)] = reader.GetBoolean(1);
    }

    protected override void Answer()
    {
        int finished = 0, open = 0;
        foreach (long id in ids)
        {
            if (!_found.TryGetValue(id, out bool done))
                continue; // unknown ids are never counted, and never waited for
            if (done)
                finished++;
            else
                open++;
        }
        Counted = finished;
        if (open == 0)
        {
            RespWriter.WriteInteger(Reply.Writer, finished);
            Reply.Send();
            return;
        }
        if (!_waiting)
        {
            _waiting = true;
            Reply.ExpireAfter(timeoutMs, store.Clock);
        }
        RequeryIfAsked();
    }

    public void Requery() => store.Requery(this, Reply);

    /// <summary>Any finished id counts without asking the database again (unless an answer is on its way, which would overwrite it).</summary>
    public void Finished(long id, Outcome? outcome)
    {
        if (InFlight || !Reply.Open)
        {
            Requery();
            return;
        }
        _found[id] = true;
        Answer();
    }
}

/// <summary>CANCEL id: one UPDATE; 1 (cancelled), 0 (already finished) or nil.</summary>
internal sealed class CancelRequest(StoreReply reply, PostgresQueueStore store, long id, long now) : ReplyRequest(reply)
{
    private long _cancelled;
    private bool _exists;

    public override void AddTo(NpgsqlBatch batch) => batch.BatchCommands.Add(Command(PostgresSchema.Cancel, id, now));

    public override void Read(NpgsqlDataReader reader)
    {
        reader.Read();
        _cancelled = reader.GetInt64(0);
        _exists = reader.GetBoolean(1);
    }

    protected override void Answer()
    {
        if (_cancelled > 0)
            RespWriter.WriteInteger(Reply.Writer, 1);
        else if (_exists)
            RespWriter.WriteInteger(Reply.Writer, 0);
        else
            RespWriter.WriteNullBulkString(Reply.Writer);
        Reply.Send();
        if (_cancelled > 0)
            store.Finished(id, outcome: new Outcome(TaskState.Cancelled, null, null));
    }
}

/// <summary>The rows a claim returned: (id, attempt, task, queue, packed arguments, priority).</summary>
internal readonly record struct ClaimedRow(long Id, int Attempt, string Task, string Queue, byte[] Arguments, int Priority);

/// <summary>Reads the rows a claim returned, highest priority first, oldest first.</summary>
internal static class ClaimedRows
{
    /// <summary>The rows in the claim's order (<see cref="PostgresSchema.ClaimFromQueues"/> sorts them).</summary>
    public static List<ClaimedRow> Read(NpgsqlDataReader reader)
    {
        var rows = new List<ClaimedRow>();
        while (reader.Read())
            rows.Add(new ClaimedRow(reader.GetInt64(0), reader.GetInt32(1), reader.GetString(2), reader.GetString(3), reader.GetFieldValue<byte[]>(4), reader.GetInt16(5)));
        return rows;
    }
}

/// <summary>
/// FETCH [COUNT] [BLOCK] [LEASE] FROM q…: one claiming UPDATE … SKIP LOCKED; with BLOCK and nothing claimed, parked
/// until a queue of its gets work (a NOTIFY, a local SUBMIT, or the safety poll), then claims again.
/// </summary>
internal sealed class FetchRequest(StoreReply reply, PostgresQueueStore store, Reactor.Connection connection, string[] queues, int count, long blockMs, int leaseMs)
    : ReplyRequest(reply), IRequery
{
    private List<ClaimedRow> _rows = [];
    private bool _blocked;
    private long _now;

    public string[] Queues => queues;

    public override void Prepare(long now) => _now = now;

    public override void AddTo(NpgsqlBatch batch) =>
        batch.BatchCommands.Add(Command(PostgresSchema.ClaimFromQueues, queues, _now, count, leaseMs, store.Node));

    public override void Read(NpgsqlDataReader reader) => _rows = ClaimedRows.Read(reader);

    protected override void Answer()
    {
        if (_rows.Count == 0 && blockMs >= 0)
        {
            if (!_blocked)
            {
                _blocked = true;
                store.Block(this);
                Reply.ExpireAfter(blockMs, store.Clock);
            }
            RequeryIfAsked();
            return;
        }
        store.Leased(connection, _rows);
        if (_blocked && (_rows.Count == count || Again))
            store.Filled(this);
        RespWriter.WriteArrayHeader(Reply.Writer, _rows.Count);
        foreach (ClaimedRow row in _rows)
        {
            RespWriter.WriteArrayHeader(Reply.Writer, 4);
            RespWriter.WriteBulkString(Reply.Writer, row.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            RespWriter.WriteInteger(Reply.Writer, row.Attempt);
            RespWriter.WriteBulkString(Reply.Writer, row.Task);
            int arguments = PackedArguments.Count(row.Arguments);
            RespWriter.WriteArrayHeader(Reply.Writer, arguments);
            for (int i = 0; i < arguments; i++)
                RespWriter.WriteBulkString(Reply.Writer, PackedArguments.Get(row.Arguments, i));
        }
        Reply.Send();
    }

    /// <summary>A queue of this fetch got work: claim again (once the claim in flight, if any, is back).</summary>
    public void Requery() => store.Requery(this, Reply);

    /// <summary>Claimed for a client that left meanwhile (or a fetch whose time was up): give them back at once, no loss counted.</summary>
    protected override void Abandoned()
    {
        if (_rows.Count > 0 && Failure is null)
            store.GiveBack(_rows);
        _rows = [];
    }
}

/// <summary>ACK, FAIL, NACK, TOUCH: one fenced UPDATE each (<see cref="PostgresSchema.Ack"/>…); +OK, -STALE or -CANCELLED.</summary>
internal sealed class SettleRequest(StoreReply? reply, PostgresQueueStore store, string sql, object?[] values, string? ackFailure)
    : StoreRequest
{
    private TaskState? _after;
    private string? _queue;
    private byte[]? _result;
    private string? _error;
    private TaskState? _before;
    private int _attemptBefore;
    private int _lastingFailures;

    /// <summary>How often an in-process run's settlement may be refused for a lasting reason before it is given up (about 2 s of ticks).</summary>
    public const int LastingFailuresAllowed = 8;

    /// <summary>The statement's parameters: id, attempt, now, then the verb's own.</summary>
    public object?[] Values => values;

    public long Id => (long)values[0]!;

    /// <summary>
    /// An ACK that <see cref="AckBatch"/> can carry with its neighbours (an oversized result fails instead); not once
    /// refused for a lasting reason, so that one row PostgreSQL refuses cannot keep refusing its neighbours' ACKs.
    /// </summary>
    public bool IsAck => ReferenceEquals(sql, PostgresSchema.Ack) && ackFailure is null && _lastingFailures == 0;

    public override void AddTo(NpgsqlBatch batch) => batch.BatchCommands.Add(Command(sql, values));

    public override void Read(NpgsqlDataReader reader) => ReadRow(reader);

    /// <summary>Store thread: reads this request's row of <see cref="PostgresSchema.Ack"/>'s shape, if the reader has one.</summary>
    public void ReadRow(NpgsqlDataReader reader)
    {
        _after = _before = null;
        if (!reader.Read() || reader.IsDBNull(4))
            return; // no such task
        _after = reader.IsDBNull(0) ? null : (TaskState)reader.GetInt16(0);
        _queue = reader.IsDBNull(1) ? null : reader.GetString(1);
        _result = reader.IsDBNull(2) ? null : reader.GetFieldValue<byte[]>(2);
        _error = reader.IsDBNull(3) ? null : reader.GetString(3);
        _before = (TaskState)reader.GetInt16(4);
        _attemptBefore = reader.GetInt32(5);
    }

    public override void Complete()
    {
        if (reply is null && Failure is not null)
        {
            _lastingFailures = FailureLasts ? _lastingFailures + 1 : 0;
            if (_lastingFailures >= LastingFailuresAllowed)
                store.GiveUpSettling(this);
            else
                store.SettleLater(this); // an in-process run's outcome: kept until a statement stores it (fenced, so a repeat changes nothing)
            return;
        }
        long id = Id;
        if (_after is { } state && Failure is null)
        {
            if (state.IsFinished())
                store.Finished(id, outcome: new Outcome(state, _result, _error));
            else if (state == TaskState.Queued)
                store.BecameReady(_queue!, inProcess: null, Order);
        }
        if (reply is not { Open: true })
            return;
        if (Failure is not null)
            RespWriter.WriteError(reply.Writer, $"ERR store: {Failure}");
        else if (_after is not null)
        {
            if (ackFailure is not null)
                RespWriter.WriteError(reply.Writer, $"ERR {ackFailure}: the attempt failed");
            else
                reply.Writer.Write("+OK\r\n"u8);
        }
        else if (_before == TaskState.Cancelled && _attemptBefore == (int)values[1]!)
            reply.Writer.Write("-CANCELLED\r\n"u8);
        else
        {
            store.Leases.StaleRefused++;
            reply.Writer.Write("-STALE\r\n"u8);
        }
        reply.Send();
    }
}

/// <summary>Deliveries lost or given back (<see cref="PostgresSchema.Lose"/>); the store hears which went back to a queue.</summary>
internal sealed class LoseRequest(PostgresQueueStore store, object?[] values, Action<int>? counted) : StoreRequest
{
    private readonly List<(long Id, TaskState State, string Queue)> _changed = [];

    public override void AddTo(NpgsqlBatch batch) => batch.BatchCommands.Add(Command(PostgresSchema.Lose, values));

    public override void Read(NpgsqlDataReader reader) => Changes.Read(reader, _changed);

    public override void Complete()
    {
        if (Failure is null)
            counted?.Invoke(_changed.Count);
        store.Changed(_changed, this);
    }
}

/// <summary>A statement of the sweep, or a NOTIFY: rows (id, state, queue) it changed, if any, go to the store.</summary>
internal sealed class HousekeepingRequest(PostgresQueueStore store, string sql, object?[] values, bool returnsChanges, Action<int>? counted = null)
    : StoreRequest
{
    private readonly List<(long Id, TaskState State, string Queue)> _changed = [];

    public override void AddTo(NpgsqlBatch batch) => batch.BatchCommands.Add(Command(sql, values));

    public override void Read(NpgsqlDataReader reader)
    {
        if (returnsChanges)
            Changes.Read(reader, _changed);
        else
            while (reader.Read())
            {
            }
    }

    public override void Complete()
    {
        if (Failure is null && returnsChanges)
        {
            counted?.Invoke(_changed.Count);
            store.Changed(_changed, this);
        }
    }
}

/// <summary>The safety poll: which watched tasks finished (a NOTIFY may have been missed).</summary>
internal sealed class FinishedPollRequest(PostgresQueueStore store, long[] ids, long now) : StoreRequest
{
    private readonly List<long> _finished = [];

    public override void AddTo(NpgsqlBatch batch) => batch.BatchCommands.Add(Command(PostgresSchema.Finished, ids, now));

    public override void Read(NpgsqlDataReader reader)
    {
        while (reader.Read())
            _finished.Add(reader.GetInt64(0));
    }

    public override void Complete()
    {
        foreach (long id in _finished)
            store.Finished(id, notify: false);
    }
}

/// <summary>The tick's look for blocked FETCHes (<see cref="PostgresSchema.QueuesWithWork"/>): those whose queues have work claim again.</summary>
internal sealed class QueuesWithWorkRequest(PostgresQueueStore store, string[] queues, long now) : StoreRequest
{
    private readonly HashSet<string> _withWork = new(StringComparer.Ordinal);

    public override void AddTo(NpgsqlBatch batch) => batch.BatchCommands.Add(Command(PostgresSchema.QueuesWithWork, queues, now));

    public override void Read(NpgsqlDataReader reader)
    {
        while (reader.Read())
            _withWork.Add(reader.GetString(0));
    }

    public override void Complete()
    {
        if (Failure is null)
            store.WorkIn(_withWork, this);
    }
}

/// <summary>Reads the (id, state, queue) rows the sweep and lost leases return.</summary>
internal static class Changes
{
    public static void Read(NpgsqlDataReader reader, List<(long Id, TaskState State, string Queue)> into)
    {
        while (reader.Read())
            into.Add((reader.GetInt64(0), (TaskState)reader.GetInt16(1), reader.GetString(2)));
    }
}
