using System.Text;
using EventLoop.Protocol;
using EventLoop.Queueing;
using EventLoop.Reactor;
using EventLoop.Stores;
using EventLoop.Workers;

namespace EventLoop.Commands;

/// <summary>
/// The task queue's verbs (../shared/TASKS.md): each parses and checks its words, then hands them to the
/// queue's store (<see cref="IQueueStore"/>: in memory or in PostgreSQL), which decides and answers.
/// Runs on the reactor thread.
/// </summary>
internal sealed class QueueCommands(ReactorLoop reactor, TaskStore store, IQueueStore queue) : CommandGroup(reactor)
{
    private const int DefaultDeadListCount = 100;
    private static readonly string[] ResultOptions = ["TIMEOUT"];
    private static readonly string[] DeadListOptions = ["QUEUE", "COUNT"];

    /// <summary>SUBMIT task [options] [ARGS arg…] → the task's id.</summary>
    public void Submit(Connection connection, in RespCommand command)
    {
        if (command.Count < 2)
        {
            Error(connection, "ERR wrong number of arguments for 'submit' command");
            return;
        }
        if (!SubmitOptions.IsName(command[1]))
        {
            Error(connection, "ERR task name must be 1 to 128 printable characters without spaces");
            return;
        }
        var spec = new SubmitSpec { Task = command[1] };
        if (SubmitOptions.Parse(command, 2, forSchedule: false, store.Clock.UnixMs, ref spec) is { } invalid)
        {
            Error(connection, invalid);
            return;
        }
        queue.Submit(connection, spec);
    }

    /// <summary>STATUS id → field/value pairs, or nil.</summary>
    public void Status(Connection connection, in RespCommand command)
    {
        if (!CheckArity(connection, command, 2, 2))
            return;
        queue.Status(connection, command[1]);
    }

    /// <summary>RESULT id [TIMEOUT ms]: the outcome, nil, -PENDING, or (with TIMEOUT) parked until finished.</summary>
    public void Result(Connection connection, in RespCommand command)
    {
        Span<int> value = stackalloc int[1];
        if (CheckArity(connection, command, 2, int.MaxValue) && TryOptionPairs(connection, command, 2, command.Count, ResultOptions, value)
            && TryNumberOption(connection, command, value[0], "TIMEOUT", 0, long.MaxValue, "a non-negative integer", -1, out long timeout))
            queue.Result(connection, command[1], timeout);
    }

    /// <summary>WAIT timeout-ms id [id…] → how many of the listed tasks are finished, waiting up to the timeout.</summary>
    public void Wait(Connection connection, in RespCommand command)
    {
        if (command.Count < 3)
        {
            Error(connection, "ERR wrong number of arguments for 'wait' command");
            return;
        }
        if (!SubmitOptions.TryNumber(command[1], out long timeout) || timeout < 0)
        {
            Error(connection, "ERR timeout is not a non-negative integer");
            return;
        }
        queue.Wait(connection, command, 2, timeout);
    }

    /// <summary>CANCEL id → 1 (it will not run again), 0 (already finished), nil (unknown).</summary>
    public void Cancel(Connection connection, in RespCommand command)
    {
        if (!CheckArity(connection, command, 2, 2))
            return;
        queue.Cancel(connection, command[1]);
    }

    /// <summary>SCHEDULE ADD | DEL | LIST.</summary>
    public void Schedule(Connection connection, in RespCommand command)
    {
        if (command.Is(1, "ADD"u8))
            AddSchedule(connection, command);
        else if (command.Is(1, "DEL"u8) && command.Count == 3)
        {
            if (IsScheduleName(command[2]))
                queue.RemoveSchedule(connection, Encoding.UTF8.GetString(command[2]));
            else
                RespWriter.WriteInteger(Reply(connection), 0); // no schedule has such a name (nor could PostgreSQL be asked about a NUL)
        }
        else if (command.Is(1, "LIST"u8) && command.Count == 2)
            queue.ListSchedules(connection);
        else
            Error(connection, "ERR syntax error: SCHEDULE ADD | DEL name | LIST");
    }

    private void AddSchedule(Connection connection, in RespCommand command)
    {
        if (command.Count < 3)
        {
            Error(connection, "ERR wrong number of arguments for 'schedule add' command");
            return;
        }
        ReadOnlySpan<byte> rawName = command[2];
        if (!IsScheduleName(rawName))
        {
            Error(connection, "ERR schedule name must be 1 to 128 printable characters without spaces or '@'");
            return;
        }
        bool every = command.Is(3, "EVERY"u8);
        if (!every && !command.Is(3, "CRON"u8))
        {
            Error(connection, "ERR syntax error: EVERY or CRON expected");
            return;
        }
        if (command.Count < 6)
        {
            Error(connection, command.Count == 4 ? $"ERR syntax error: {(every ? "EVERY" : "CRON")} needs a value" : "ERR syntax error: task name expected");
            return;
        }
        long everyMs = 0;
        if (every && (!SubmitOptions.TryNumber(command[4], out everyMs) || everyMs <= 0 || everyMs > TaskStore.LatestUnixMs))
        {
            Error(connection, everyMs > TaskStore.LatestUnixMs ? $"ERR EVERY must be at most {TaskStore.LatestUnixMs}" : "ERR EVERY must be a positive integer");
            return;
        }
        int next = 5;
        string? zoneName = null;
        if (command.Is(next, "TZ"u8) && next + 1 < command.Count)
        {
            string zone = Encoding.UTF8.GetString(command[next + 1]);
            bool known = TimeZoneInfo.TryFindSystemTimeZoneById(zone, out _);
            if (every && known)
            {
                Error(connection, "ERR option 'TZ' is allowed with CRON only: EVERY counts from the Unix epoch");
                return;
            }
            if (!every)
            {
                if (!known)
                {
                    Error(connection, $"ERR unknown time zone '{Printable.Of(command[next + 1])}'");
                    return;
                }
                zoneName = zone;
                next += 2;
                if (command.Is(next, "TZ"u8) && next + 1 < command.Count)
                {
                    Error(connection, "ERR option 'TZ' given twice");
                    return;
                }
            }
        }
        if (next >= command.Count || !SubmitOptions.IsName(command[next]))
        {
            Error(connection, next >= command.Count ? "ERR syntax error: task name expected" : "ERR task name must be 1 to 128 printable characters without spaces");
            return;
        }
        var spec = new SubmitSpec { Task = command[next] };
        if (SubmitOptions.Parse(command, next + 1, forSchedule: true, store.Clock.UnixMs, ref spec) is { } invalid)
        {
            Error(connection, invalid);
            return;
        }
        var template = new TaskTemplate(Encoding.UTF8.GetString(spec.Task), spec.Queue.IsEmpty ? "default" : Encoding.UTF8.GetString(spec.Queue),
            spec.Priority, spec.Retries, spec.BackoffMs, spec.TimeoutMs, spec.ResultTtlSeconds, spec.Arguments);
        var definition = new ScheduleDefinition(Encoding.UTF8.GetString(rawName), everyMs, every ? null : Encoding.UTF8.GetString(command[4]), zoneName, template);
        Queueing.Schedule schedule;
        try
        {
            schedule = definition.Build(store);
        }
        catch (Cronos.CronFormatException malformed)
        {
            Error(connection, $"ERR invalid CRON expression: {malformed.Message}");
            return;
        }
        if (schedule.NextAfter(store.Clock.UnixMs) is null)
        {
            Error(connection, "ERR CRON expression never fires");
            return;
        }
        queue.AddSchedule(connection, definition, schedule);
    }

    /// <summary>QUEUES → [queue, queued, running, scheduled, paused] per queue.</summary>
    public void Queues(Connection connection, in RespCommand command)
    {
        if (CheckArity(connection, command, 1, 1))
            queue.Queues(connection);
    }

    /// <summary>QUEUE PAUSE q | QUEUE RESUME q.</summary>
    public void Queue(Connection connection, in RespCommand command)
    {
        bool pause = command.Is(1, "PAUSE"u8);
        if (command.Count != 3 || !(pause || command.Is(1, "RESUME"u8)))
        {
            Error(connection, "ERR syntax error: QUEUE PAUSE q | QUEUE RESUME q");
            return;
        }
        if (!SubmitOptions.IsName(command[2]))
        {
            Error(connection, SubmitOptions.BadQueueName);
            return;
        }
        queue.Pause(connection, command[2], pause);
    }

    /// <summary>'@' separates a schedule's name from the firing time in its tasks' ids.</summary>
    private static bool IsScheduleName(ReadOnlySpan<byte> name) => SubmitOptions.IsName(name) && !name.Contains((byte)'@');

    /// <summary>DEAD LIST [QUEUE q] [COUNT n] | DEAD RETRY id | DEAD DROP id.</summary>
    public void Dead(Connection connection, in RespCommand command)
    {
        if (command.Is(1, "LIST"u8))
        {
            ListDead(connection, command);
            return;
        }
        bool retry = command.Is(1, "RETRY"u8);
        if (command.Count != 3 || !(retry || command.Is(1, "DROP"u8)))
        {
            Error(connection, "ERR syntax error: DEAD LIST [QUEUE q] [COUNT n] | DEAD RETRY id | DEAD DROP id");
            return;
        }
        queue.Dead(connection, command[2], retry);
    }

    private void ListDead(Connection connection, in RespCommand command)
    {
        Span<int> values = stackalloc int[2];
        if (!TryOptionPairs(connection, command, 2, command.Count, DeadListOptions, values)
            || !TryNumberOption(connection, command, values[1], "COUNT", 0, long.MaxValue, "a non-negative integer", DefaultDeadListCount, out long count))
            return;
        string? only = null;
        if (values[0] >= 0)
        {
            if (!SubmitOptions.IsName(command[values[0]]))
            {
                Error(connection, SubmitOptions.BadQueueName);
                return;
            }
            only = Encoding.Latin1.GetString(command[values[0]]);
        }
        queue.ListDead(connection, only, count);
    }
}
