using System.Buffers;
using System.Text;
using EventLoop.Commands;
using EventLoop.Protocol;
using EventLoop.Queueing;
using EventLoop.Reactor;

namespace EventLoop.Stores;

/// <summary>
/// The default store: the reactor's own <see cref="TaskStore"/> (with the journal when it is on). Every answer is
/// written inline, on the reactor, in the same call. Reactor-owned.
/// </summary>
internal sealed class MemoryQueueStore(ReactorLoop reactor) : CommandGroup(reactor), IQueueStore
{
    public void AppendInfo(Action<string, object> line)
    {
    }

    private static ReadOnlySpan<byte> Ok => "+OK\r\n"u8;
    private static ReadOnlySpan<byte> Stale => "-STALE\r\n"u8;
    private static ReadOnlySpan<byte> Cancelled => "-CANCELLED\r\n"u8;

    private readonly TaskStore _store = reactor.Store;
    /// <summary>The queues a FETCH names, reused: only a FETCH that blocks keeps its own copy.</summary>
    private TaskQueue[] _fetchQueues = new TaskQueue[1];

    public int BlockedFetches => _store.BlockedFetches;

    public LeaseTotals Leases => _store.Leases;

    public long? LeasedTasks => _store.LeasedTasks;

    public QueueTotals? Totals => _store.Totals;

    /// <summary>The reactor counts this store's runs with its own.</summary>
    public bool Idle => true;

    public int RunsUnderWay => 0;

    public void GiveBackRuns()
    {
    }

    public QueueOverview? Overview { get; private set; }

    /// <summary>Bounded whatever the store holds: the dead set is listed up to <see cref="QueueOverview.DeadListed"/>.</summary>
    public void RefreshOverview(bool watched)
    {
        var queues = new List<QueueView>();
        foreach (TaskQueue queue in _store.Queues)
            queues.Add(new QueueView(queue.Name, queue.Queued, queue.Running, queue.Waiting, queue.Paused));
        var dead = new List<DeadTaskView>(Math.Min(_store.DeadCount, QueueOverview.DeadListed));
        foreach (TaskRecord task in _store.Dead(null).Take(QueueOverview.DeadListed))
            dead.Add(new DeadTaskView(task.IdText, task.Name, task.Queue.Name, task.Error, task.FinishedMs, task.Attempt));
        Overview = new QueueOverview(queues, _store.Count, _store.OldestReadyCreatedMs(), _store.DeadCount, dead,
            [.. _store.Schedules.Select(s => new ScheduleView(s.Name, s.Spec, s.Template.Task, s.Template.Queue, s.NextFireMs))], _store.Clock.UnixMs);
    }

    /// <summary>
    /// As the verbs do with the journal on: refused while it cannot write (MISCONF), and answered once its records are
    /// written (fsync'd under always), so a change the dashboard was told is made survives a crash as a reply would.
    /// </summary>
    public void Change(QueueChange change, string target, TaskCompletionSource<bool> done)
    {
        Journal.TaskJournal? journal = Reactor.Journal;
        if (journal?.Failure is { } failure)
        {
            done.TrySetException(new InvalidOperationException($"MISCONF journal write failed: {failure}"));
            return;
        }
        long before = journal?.LastLsn ?? 0;
        bool made = Make(change, target);
        if (journal is null || journal.LastLsn == before)
            done.TrySetResult(made);
        else
            journal.Hold(error =>
            {
                if (error is null)
                    done.TrySetResult(made);
                else
                    done.TrySetException(new InvalidOperationException(error));
            }, journal.LastLsn);
    }

    private bool Make(QueueChange change, string target)
    {
        switch (change)
        {
            case QueueChange.Pause or QueueChange.Resume:
                _store.Pause(Encoding.UTF8.GetBytes(target), change == QueueChange.Pause, out bool full);
                return !full;
            default:
                return RetryOrDrop(_store.Find(target), change == QueueChange.RetryDead);
        }
    }

    /// <summary>DEAD RETRY / DEAD DROP, from RESP or the dashboard: false when the task is not in the dead set.</summary>
    private bool RetryOrDrop(TaskRecord? task, bool retry) => task is not null && (retry ? _store.RetryDead(task) : _store.DropDead(task));

    public void Submit(Connection connection, in SubmitSpec spec)
    {
        switch (_store.Submit(spec, out TaskRecord? task))
        {
            case SubmitOutcome.FullTasks:
                Error(connection, $"FULL max-tasks ({Reactor.Options.MaxTasks}) reached");
                break;
            case SubmitOutcome.FullQueues:
                Error(connection, $"FULL max-queues ({Reactor.Options.MaxQueues}) reached");
                break;
            default:
                task!.WriteId(Reply(connection));
                break;
        }
    }

    public void Status(Connection connection, ReadOnlySpan<byte> id)
    {
        if (_store.Find(id) is { } task)
            QueueReplies.WriteStatus(Reply(connection), task);
        else
            RespWriter.WriteNullBulkString(Reply(connection));
    }

    public void Result(Connection connection, ReadOnlySpan<byte> id, long timeoutMs)
    {
        TaskRecord? task = _store.Find(id);
        if (task is null)
            RespWriter.WriteNullBulkString(Reply(connection));
        else if (task.State.IsFinished() || timeoutMs < 0)
            QueueReplies.WriteResult(Reply(connection), task);
        else
            new ParkedResult(Reactor.Parked, connection, Reactor.AppendReplySlot(connection), task).ExpireAfter(timeoutMs, _store.Clock);
    }

    public void Wait(Connection connection, in RespCommand command, int firstId, long timeoutMs)
    {
        int finished = 0;
        Dictionary<TaskRecord, int>? waitingFor = null;
        for (int i = firstId; i < command.Count; i++)
        {
            TaskRecord? task = _store.Find(command[i]);
            if (task is null)
                continue;
            if (task.State.IsFinished())
            {
                finished++;
                continue;
            }
            waitingFor ??= [];
            waitingFor[task] = waitingFor.GetValueOrDefault(task) + 1;
        }
        if (waitingFor is null)
            RespWriter.WriteInteger(Reply(connection), finished);
        else
            new ParkedWait(Reactor.Parked, connection, Reactor.AppendReplySlot(connection), finished, waitingFor).ExpireAfter(timeoutMs, _store.Clock);
    }

    public void Cancel(Connection connection, ReadOnlySpan<byte> id)
    {
        if (_store.Find(id) is { } task)
            RespWriter.WriteInteger(Reply(connection), _store.Cancel(task) ? 1 : 0);
        else
            RespWriter.WriteNullBulkString(Reply(connection));
    }

    public void Fetch(Connection connection, in RespCommand command, int firstQueue, int count, long blockMs, int leaseMs)
    {
        int queueCount = command.Count - firstQueue;
        if (_fetchQueues.Length < queueCount)
            _fetchQueues = new TaskQueue[queueCount];
        // A name no queue has holds nothing to fetch: only a FETCH that will wait needs its queue made (and counted).
        int existing = 0;
        for (int i = 0; i < queueCount; i++)
        {
            if (_store.FindQueue(command[firstQueue + i]) is { } queue)
                _fetchQueues[existing++] = queue;
        }
        ReadOnlySpan<Lease> leases = _store.Fetch(_fetchQueues.AsSpan(0, existing), count, leaseMs, connection.Leases!);
        if (leases.Length > 0 || blockMs < 0)
        {
            QueueReplies.WriteFetched(Reply(connection), leases);
            return;
        }
        Span<TaskQueue> queues = _fetchQueues.AsSpan(0, queueCount);
        bool full = false;
        for (int i = 0; i < queueCount && !full; i++)
        {
            TaskQueue? queue = _store.GetOrCreateQueue(command[firstQueue + i]);
            full = queue is null;
            queues[i] = queue!;
        }
        // At the limit, making one listed queue may have retired another that held nothing yet: then not all fit.
        for (int i = 0; i < queueCount && !full; i++)
            full = _store.FindQueue(command[firstQueue + i]) != queues[i];
        if (full)
        {
            Error(connection, $"FULL max-queues ({Reactor.Options.MaxQueues}) reached");
            return;
        }
        new ParkedFetch(Reactor.Parked, connection, Reactor.AppendReplySlot(connection), _store, queues.ToArray(), count, leaseMs)
            .ExpireAfter(blockMs, _store.Clock);
    }

    public void Ack(Connection connection, ReadOnlySpan<byte> id, int attempt, ReadOnlySpan<byte> result)
    {
        if (!IsCurrent(connection, id, attempt, out Lease? lease))
            return;
        if (_store.Ack(lease!, ResultBulk.Encode(result)))
            Reply(connection).Write(Ok);
        else
            Error(connection, $"ERR {lease!.Task.Error}: the attempt failed");
    }

    public void Fail(Connection connection, ReadOnlySpan<byte> id, int attempt, ReadOnlySpan<byte> message, bool noRetry)
    {
        if (!IsCurrent(connection, id, attempt, out Lease? lease))
            return;
        _store.FailLeased(lease!, Encoding.UTF8.GetString(message), noRetry);
        Reply(connection).Write(Ok);
    }

    public void Nack(Connection connection, ReadOnlySpan<byte> id, int attempt, long delayMs)
    {
        if (!IsCurrent(connection, id, attempt, out Lease? lease))
            return;
        _store.Nack(lease!, delayMs);
        Reply(connection).Write(Ok);
    }

    public void Touch(Connection connection, ReadOnlySpan<byte> id, int attempt, int leaseMs)
    {
        if (!IsCurrent(connection, id, attempt, out Lease? lease))
            return;
        _store.Touch(lease!, leaseMs);
        Reply(connection).Write(Ok);
    }

    public void ConnectionClosed(Connection connection) => _store.LoseAll(connection.Leases!);

    public void Queues(Connection connection)
    {
        List<TaskQueue> queues = [.. _store.Queues];
        IBufferWriter<byte> reply = Reply(connection);
        RespWriter.WriteArrayHeader(reply, queues.Count);
        foreach (TaskQueue each in queues)
        {
            RespWriter.WriteArrayHeader(reply, 5);
            RespWriter.WriteBulkString(reply, each.Name);
            RespWriter.WriteInteger(reply, each.Queued);
            RespWriter.WriteInteger(reply, each.Running);
            RespWriter.WriteInteger(reply, each.Waiting);
            RespWriter.WriteInteger(reply, each.Paused ? 1 : 0);
        }
    }

    public void Pause(Connection connection, ReadOnlySpan<byte> queue, bool paused)
    {
        _store.Pause(queue, paused, out bool full);
        if (full)
            Error(connection, $"FULL max-queues ({Reactor.Options.MaxQueues}) reached");
        else
            Reply(connection).Write(Ok);
    }

    public void ListDead(Connection connection, string? queue, long count)
    {
        TaskQueue? only = queue is null ? null : _store.FindQueue(Encoding.Latin1.GetBytes(queue));
        List<TaskRecord> dead = queue is not null && only is null ? [] : [.. _store.Dead(only).Take((int)Math.Min(count, int.MaxValue))];
        IBufferWriter<byte> reply = Reply(connection);
        RespWriter.WriteArrayHeader(reply, dead.Count);
        foreach (TaskRecord task in dead)
            task.WriteId(reply);
    }

    public void Dead(Connection connection, ReadOnlySpan<byte> id, bool retry)
    {
        RespWriter.WriteInteger(Reply(connection), RetryOrDrop(_store.Find(id), retry) ? 1 : 0);
    }

    public void AddSchedule(Connection connection, ScheduleDefinition definition, Schedule schedule)
    {
        if (_store.AddSchedule(schedule))
            Reply(connection).Write(Ok);
        else
            Error(connection, $"FULL max-schedules ({Reactor.Options.MaxSchedules}) reached");
    }

    public void RemoveSchedule(Connection connection, string name) =>
        RespWriter.WriteInteger(Reply(connection), _store.RemoveSchedule(name) ? 1 : 0);

    public void ListSchedules(Connection connection)
    {
        IBufferWriter<byte> reply = Reply(connection);
        RespWriter.WriteArrayHeader(reply, _store.ScheduleCount);
        foreach (Schedule schedule in _store.Schedules)
        {
            RespWriter.WriteArrayHeader(reply, 4);
            RespWriter.WriteBulkString(reply, schedule.Name);
            RespWriter.WriteBulkString(reply, schedule.Spec);
            RespWriter.WriteBulkString(reply, schedule.Template.Task);
            RespWriter.WriteInteger(reply, schedule.NextFireMs);
        }
    }

    /// <summary>The (id, attempt) a worker names is the current delivery; otherwise answers -STALE or -CANCELLED itself.</summary>
    private bool IsCurrent(Connection connection, ReadOnlySpan<byte> id, int attempt, out Lease? lease)
    {
        switch (_store.Check(_store.Find(id), attempt, out lease))
        {
            case LeaseCheck.Current:
                return true;
            case LeaseCheck.Cancelled:
                Reply(connection).Write(Cancelled);
                return false;
            default:
                Reply(connection).Write(Stale);
                return false;
        }
    }
}
