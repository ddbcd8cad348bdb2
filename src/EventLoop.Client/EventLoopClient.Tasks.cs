using System.Globalization;
using System.Text;

namespace EventLoop.Client;

// The task queue's commands (SUBMIT, STATUS, RESULT, WAIT, CANCEL, SCHEDULE, QUEUES, QUEUE, DEAD), typed.
// Like the other helpers they are pipelined on the one connection and throw RespErrorException for an
// error reply the method does not give a meaning of its own.
public sealed partial class EventLoopClient
{
    /// <summary>Submits a task (<c>SUBMIT task [options] ARGS args…</c>) and returns its id at once.</summary>
    /// <param name="task">The task's name.</param>
    /// <param name="options">Queue, priority, delay, retries…; null for the server's defaults.</param>
    /// <param name="arguments">The task's arguments, sent as UTF-8.</param>
    /// <returns>The task's id, an opaque string. With <see cref="SubmitOptions.Key"/>, the id of the unfinished task with that key if there is one.</returns>
    /// <exception cref="ArgumentException">An option is out of range (the server would refuse it).</exception>
    /// <exception cref="RespErrorException">The server refused the task: <c>ERR …</c> for a malformed option, <c>FULL …</c> past a limit.</exception>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public Task<string> SubmitAsync(string task, SubmitOptions? options = null, params string[] arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        return SubmitAsync(task, options, Array.ConvertAll(arguments, a => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(a)));
    }

    /// <summary>Submits a task with binary arguments; see <see cref="SubmitAsync(string, SubmitOptions?, string[])"/>.</summary>
    /// <param name="task">The task's name.</param>
    /// <param name="options">Queue, priority, delay, retries…; null for the server's defaults.</param>
    /// <param name="arguments">The task's arguments as bytes; the memory is encoded before this returns.</param>
    /// <returns>The task's id.</returns>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    /// <exception cref="RespErrorException">The server refused the task.</exception>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public Task<string> SubmitAsync(string task, SubmitOptions? options, IReadOnlyList<ReadOnlyMemory<byte>> arguments)
    {
        // Checked and encoded before anything is sent, so a usage error throws here rather than faulting the task.
        ArgumentException.ThrowIfNullOrEmpty(task);
        ArgumentNullException.ThrowIfNull(arguments);
        var command = new List<ReadOnlyMemory<byte>> { Ascii("SUBMIT"), Encoding.UTF8.GetBytes(task) };
        AddOptions(command, options, forSchedule: false);
        command.Add(Ascii("ARGS"));
        command.AddRange(arguments);
        return IdAsync(ExecuteCheckedAsync([.. command]));

        static async Task<string> IdAsync(Task<RespValue> call)
        {
            RespValue reply = await call.ConfigureAwait(false);
            return reply.Text ?? throw Unexpected("SUBMIT", reply);
        }
    }

    /// <summary>Reads a task's status (<c>STATUS id</c>).</summary>
    /// <returns>The status, or null when the id is unknown (it never existed, or its result expired).</returns>
    /// <exception cref="RespErrorException">The server answered with an error.</exception>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public async Task<TaskStatusInfo?> StatusAsync(string id)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        RespValue reply = await ExecuteCheckedAsync(["STATUS", id]).ConfigureAwait(false);
        return reply.IsNull ? null : ParseStatus(reply);
    }

    /// <summary>
    /// Gets a task's result (<c>RESULT id [TIMEOUT ms]</c>), waiting for it up to <paramref name="timeout"/> if the task has not finished.
    /// </summary>
    /// <param name="id">The task's id.</param>
    /// <param name="timeout">How long the server holds the reply until the task finishes: null answers at once;
    /// <see cref="TimeSpan.Zero"/> or <see cref="Timeout.InfiniteTimeSpan"/> waits with no limit. Calls made
    /// after this one on the same client get their replies only after it (RESP replies are in order).</param>
    /// <returns>The result's bytes once the task succeeded.</returns>
    /// <remarks>Every outcome other than success is an exception, so that the returned array is always a real result;
    /// catch <see cref="TaskResultException"/> to handle them together, or call <see cref="StatusAsync"/> first to look without throwing.</remarks>
    /// <exception cref="TaskFailedException">The task failed with no retries left (<c>-FAILED</c>); <see cref="TaskFailedException.Error"/> holds its last error.</exception>
    /// <exception cref="TaskCancelledException">The task was cancelled (<c>-CANCELLED</c>).</exception>
    /// <exception cref="TaskPendingException">The task has not finished, and the timeout was null or passed (<c>-PENDING state</c>).</exception>
    /// <exception cref="TaskNotFoundException">The id is unknown: it never existed, or the task's result expired (nil).</exception>
    /// <exception cref="RespErrorException">The server answered with another error.</exception>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public async Task<byte[]> ResultAsync(string id, TimeSpan? timeout = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        string[] command = timeout is { } t ? ["RESULT", id, "TIMEOUT", WaitMilliseconds(t, nameof(timeout))] : ["RESULT", id];
        RespValue reply = await ExecuteAsync(Utf8(command), CancellationToken.None).ConfigureAwait(false);
        switch (reply.Kind)
        {
            case RespKind.BulkString:
                return reply.Bytes.ToArray();
            case RespKind.Null:
                throw new TaskNotFoundException(id);
            case RespKind.Error:
                string text = reply.Text ?? "";
                if (text == "CANCELLED")
                    throw new TaskCancelledException(id);
                if (text == "FAILED" || text.StartsWith("FAILED ", StringComparison.Ordinal))
                    throw new TaskFailedException(id, text.Length > 7 ? text[7..] : "");
                if (text.StartsWith("PENDING ", StringComparison.Ordinal) && TryParseState(text[8..], out TaskState state))
                    throw new TaskPendingException(id, state);
                throw new RespErrorException(text);
            default:
                throw Unexpected("RESULT", reply);
        }
    }

    /// <summary>Waits until every listed task has finished or <paramref name="timeout"/> passes (<c>WAIT ms id…</c>).</summary>
    /// <param name="timeout">How long to wait; <see cref="TimeSpan.Zero"/> or <see cref="Timeout.InfiniteTimeSpan"/>: no limit.</param>
    /// <param name="ids">The tasks (at least one); an id listed twice counts twice.</param>
    /// <returns>How many of the listed tasks are finished (succeeded, failed or cancelled). Unknown ids are never counted and not waited for.</returns>
    /// <exception cref="RespErrorException">The server answered with an error.</exception>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public async Task<int> WaitAsync(TimeSpan timeout, params string[] ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Length == 0)
            throw new ArgumentException("WAIT needs at least one id", nameof(ids));
        RespValue reply = await ExecuteCheckedAsync(["WAIT", WaitMilliseconds(timeout, nameof(timeout)), .. ids]).ConfigureAwait(false);
        return checked((int)Integer("WAIT", reply));
    }

    /// <summary>Cancels a task (<c>CANCEL id</c>); a running in-process task sees its cancellation token cancelled.</summary>
    /// <returns>What happened: cancelled, already finished, or the id is unknown.</returns>
    /// <exception cref="RespErrorException">The server answered with an error.</exception>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public async Task<CancelOutcome> CancelAsync(string id)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        RespValue reply = await ExecuteCheckedAsync(["CANCEL", id]).ConfigureAwait(false);
        if (reply.IsNull)
            return CancelOutcome.NotFound;
        return Integer("CANCEL", reply) == 1 ? CancelOutcome.Cancelled : CancelOutcome.AlreadyFinished;
    }

    /// <summary>
    /// Adds or replaces a schedule that fires at every multiple of <paramref name="every"/> since the Unix epoch
    /// (<c>SCHEDULE ADD name EVERY ms task …</c>); each firing submits a task with id <c>name@fire-unix-ms</c>.
    /// </summary>
    /// <param name="name">The schedule's name (no spaces, no <c>@</c>).</param>
    /// <param name="every">The period, whole milliseconds, positive.</param>
    /// <param name="task">The task each firing submits.</param>
    /// <param name="options">Options of the submitted tasks; <see cref="SubmitOptions.Delay"/>, <see cref="SubmitOptions.At"/> and <see cref="SubmitOptions.Key"/> are not allowed.</param>
    /// <param name="arguments">The task's arguments, sent as UTF-8.</param>
    /// <exception cref="ArgumentException">The period is not positive, or a disallowed option is set.</exception>
    /// <exception cref="RespErrorException">The server refused the schedule (<c>ERR …</c>, <c>FULL max-schedules …</c>).</exception>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public Task ScheduleAsync(string name, TimeSpan every, string task, SubmitOptions? options = null, params string[] arguments)
    {
        long ms = (long)every.TotalMilliseconds;
        if (ms < 1)
            throw new ArgumentOutOfRangeException(nameof(every), every, "a schedule's period must be at least 1 ms");
        return ScheduleCoreAsync(name, ["EVERY", Number(ms)], task, options, arguments);
    }

    /// <summary>
    /// Adds or replaces a cron schedule (<c>SCHEDULE ADD name CRON "expr" [TZ zone] task …</c>); each firing submits a
    /// task with id <c>name@fire-unix-ms</c>.
    /// </summary>
    /// <param name="name">The schedule's name (no spaces, no <c>@</c>).</param>
    /// <param name="cron">Five fields (minute hour day month weekday), or six with seconds first.</param>
    /// <param name="timeZone">An IANA time zone the expression is read in; null: UTC.</param>
    /// <param name="task">The task each firing submits.</param>
    /// <param name="options">Options of the submitted tasks; <see cref="SubmitOptions.Delay"/>, <see cref="SubmitOptions.At"/> and <see cref="SubmitOptions.Key"/> are not allowed.</param>
    /// <param name="arguments">The task's arguments, sent as UTF-8.</param>
    /// <exception cref="ArgumentException">A disallowed option is set.</exception>
    /// <exception cref="RespErrorException">The server refused the schedule (an invalid expression, an unknown time zone, a limit).</exception>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public Task ScheduleAsync(string name, string cron, string? timeZone, string task, SubmitOptions? options = null, params string[] arguments)
    {
        ArgumentException.ThrowIfNullOrEmpty(cron);
        string[] spec = timeZone is null ? ["CRON", cron] : ["CRON", cron, "TZ", timeZone];
        return ScheduleCoreAsync(name, spec, task, options, arguments);
    }

    /// <summary>Removes a schedule (<c>SCHEDULE DEL name</c>); tasks it already submitted are untouched.</summary>
    /// <returns>True if there was a schedule of that name.</returns>
    /// <exception cref="RespErrorException">The server answered with an error.</exception>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public async Task<bool> UnscheduleAsync(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return Integer("SCHEDULE DEL", await ExecuteCheckedAsync(["SCHEDULE", "DEL", name]).ConfigureAwait(false)) == 1;
    }

    /// <summary>Lists the schedules, by name (<c>SCHEDULE LIST</c>).</summary>
    /// <exception cref="RespErrorException">The server answered with an error.</exception>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public async Task<IReadOnlyList<ScheduleInfo>> ListSchedulesAsync()
    {
        RespValue reply = await ExecuteCheckedAsync(["SCHEDULE", "LIST"]).ConfigureAwait(false);
        return [.. Rows("SCHEDULE LIST", reply, 4).Select(row => new ScheduleInfo
        {
            Name = row[0].Text ?? "",
            Spec = row[1].Text ?? "",
            Task = row[2].Text ?? "",
            NextFireAt = DateTimeOffset.FromUnixTimeMilliseconds(Integer("SCHEDULE LIST", row[3])),
        })];
    }

    /// <summary>Lists the queues, by name, with their counts (<c>QUEUES</c>).</summary>
    /// <exception cref="RespErrorException">The server answered with an error.</exception>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public async Task<IReadOnlyList<QueueInfo>> QueuesAsync()
    {
        RespValue reply = await ExecuteCheckedAsync(["QUEUES"]).ConfigureAwait(false);
        return [.. Rows("QUEUES", reply, 5).Select(row => new QueueInfo
        {
            Name = row[0].Text ?? "",
            Queued = Integer("QUEUES", row[1]),
            Running = Integer("QUEUES", row[2]),
            Scheduled = Integer("QUEUES", row[3]),
            Paused = Integer("QUEUES", row[4]) != 0,
        })];
    }

    /// <summary>Pauses a queue (<c>QUEUE PAUSE q</c>): it keeps accepting tasks but hands none out. Creates the queue if it is new.</summary>
    /// <exception cref="RespErrorException">The server answered with an error.</exception>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public async Task PauseQueueAsync(string queue)
    {
        ArgumentException.ThrowIfNullOrEmpty(queue);
        await ExecuteCheckedAsync(["QUEUE", "PAUSE", queue]).ConfigureAwait(false);
    }

    /// <summary>Resumes a paused queue (<c>QUEUE RESUME q</c>).</summary>
    /// <exception cref="RespErrorException">The server answered with an error.</exception>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public async Task ResumeQueueAsync(string queue)
    {
        ArgumentException.ThrowIfNullOrEmpty(queue);
        await ExecuteCheckedAsync(["QUEUE", "RESUME", queue]).ConfigureAwait(false);
    }

    /// <summary>Lists the ids of failed tasks, oldest failure first (<c>DEAD LIST [QUEUE q] [COUNT n]</c>).</summary>
    /// <param name="queue">Only this queue's; null: every queue's.</param>
    /// <param name="count">At most this many; null: the server's default (100).</param>
    /// <exception cref="RespErrorException">The server answered with an error.</exception>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public async Task<IReadOnlyList<string>> DeadListAsync(string? queue = null, int? count = null)
    {
        var command = new List<string> { "DEAD", "LIST" };
        if (queue is not null)
            command.AddRange(["QUEUE", queue]);
        if (count is { } n)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(n, nameof(count));
            command.AddRange(["COUNT", Number(n)]);
        }
        RespValue reply = await ExecuteCheckedAsync([.. command]).ConfigureAwait(false);
        if (reply.Kind != RespKind.Array)
            throw Unexpected("DEAD LIST", reply);
        return [.. reply.Elements.Select(e => e.Text ?? "")];
    }

    /// <summary>Queues a failed task again with its attempts reset (<c>DEAD RETRY id</c>).</summary>
    /// <returns>True if the id was in the dead set.</returns>
    /// <exception cref="RespErrorException">The server answered with an error.</exception>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public async Task<bool> DeadRetryAsync(string id)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        return Integer("DEAD RETRY", await ExecuteCheckedAsync(["DEAD", "RETRY", id]).ConfigureAwait(false)) == 1;
    }

    /// <summary>Removes a failed task from the dead set and forgets it (<c>DEAD DROP id</c>).</summary>
    /// <returns>True if the id was in the dead set.</returns>
    /// <exception cref="RespErrorException">The server answered with an error.</exception>
    /// <exception cref="RespConnectionException">The connection is lost or closed.</exception>
    public async Task<bool> DeadDropAsync(string id)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        return Integer("DEAD DROP", await ExecuteCheckedAsync(["DEAD", "DROP", id]).ConfigureAwait(false)) == 1;
    }

    /// <summary>Reads a <c>STATUS</c> reply (a flat array of field/value pairs); fields it does not know are skipped.</summary>
    internal static TaskStatusInfo ParseStatus(RespValue reply)
    {
        if (reply.Kind != RespKind.Array || reply.Elements.Count % 2 != 0)
            throw Unexpected("STATUS", reply);
        var fields = new Dictionary<string, RespValue>(StringComparer.Ordinal);
        for (int i = 0; i < reply.Elements.Count; i += 2)
            fields[reply.Elements[i].Text ?? ""] = reply.Elements[i + 1];
        RespValue Field(string name) => fields.TryGetValue(name, out RespValue? value)
            ? value
            : throw new InvalidOperationException($"STATUS reply without '{name}': {reply}");
        string stateWord = Field("state").Text ?? "";
        if (!TryParseState(stateWord, out TaskState state))
            throw new InvalidOperationException($"STATUS reply with an unknown state '{stateWord}'");
        string error = Field("error").Text ?? "";
        return new TaskStatusInfo
        {
            Id = Field("id").Text ?? "",
            Task = Field("task").Text ?? "",
            Queue = Field("queue").Text ?? "",
            State = state,
            Attempt = Number("STATUS", Field("attempt")),
            Priority = checked((int)Number("STATUS", Field("priority"))),
            CreatedAt = Time(Field("created_ms")),
            RunAt = Time(Field("run_at_ms")),
            StartedAt = Time(Field("started_ms")),
            FinishedAt = Time(Field("finished_ms")),
            Error = error.Length == 0 ? null : error,
        };
    }

    /// <summary>Parses a state word of the wire (<c>queued</c>, <c>running</c>…).</summary>
    internal static bool TryParseState(string word, out TaskState state)
    {
        state = word switch
        {
            "scheduled" => TaskState.Scheduled,
            "queued" => TaskState.Queued,
            "running" => TaskState.Running,
            "retrying" => TaskState.Retrying,
            "succeeded" => TaskState.Succeeded,
            "failed" => TaskState.Failed,
            "cancelled" => TaskState.Cancelled,
            _ => (TaskState)(-1),
        };
        return Enum.IsDefined(state);
    }

    private Task ScheduleCoreAsync(string name, string[] spec, string task, SubmitOptions? options, string[] arguments)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(task);
        ArgumentNullException.ThrowIfNull(arguments);
        var command = new List<ReadOnlyMemory<byte>> { Ascii("SCHEDULE"), Ascii("ADD"), Encoding.UTF8.GetBytes(name) };
        command.AddRange(spec.Select(s => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(s)));
        command.Add(Encoding.UTF8.GetBytes(task));
        AddOptions(command, options, forSchedule: true);
        command.Add(Ascii("ARGS"));
        command.AddRange(arguments.Select(a => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(a)));
        return ExecuteCheckedAsync([.. command]);
    }

    private static void AddOptions(List<ReadOnlyMemory<byte>> command, SubmitOptions? options, bool forSchedule)
    {
        if (options is null)
            return;
        void Add(string name, string value)
        {
            command.Add(Ascii(name));
            command.Add(Encoding.UTF8.GetBytes(value));
        }
        if (forSchedule && (options.Delay is not null || options.At is not null || options.Key is not null))
            throw new ArgumentException("a schedule's options cannot have Delay, At or Key", nameof(options));
        if (options.Delay is not null && options.At is not null)
            throw new ArgumentException("Delay and At cannot be combined", nameof(options));
        if (options.Queue is not null)
            Add("QUEUE", options.Queue);
        if (options.Priority is { } priority)
        {
            if (priority is < 0 or > 9)
                throw new ArgumentOutOfRangeException(nameof(options), priority, "Priority must be from 0 to 9");
            Add("PRIORITY", Number(priority));
        }
        if (options.Delay is { } delay)
            Add("DELAY", Number(Milliseconds(delay, "Delay")));
        if (options.At is { } at)
            Add("AT", Number(Math.Max(0, at.ToUnixTimeMilliseconds())));
        if (options.Retries is { } retries)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(retries, "Retries");
            Add("RETRIES", Number(retries));
        }
        if (options.Backoff is { } backoff)
        {
            long ms = Milliseconds(backoff, "Backoff");
            if (ms < 1)
                throw new ArgumentOutOfRangeException(nameof(options), backoff, "Backoff must be at least 1 ms");
            Add("BACKOFF", Number(ms));
        }
        if (options.Timeout is { } timeout)
            Add("TIMEOUT", Number(Milliseconds(timeout, "Timeout")));
        if (options.Key is not null)
            Add("KEY", options.Key);
        if (options.ResultTtl is { } ttl)
        {
            if (ttl < TimeSpan.Zero)
                throw new ArgumentOutOfRangeException(nameof(options), ttl, "ResultTtl must not be negative");
            Add("RESULT-TTL", Number((long)Math.Ceiling(ttl.TotalSeconds)));
        }
    }

    private static long Milliseconds(TimeSpan span, string name) => span >= TimeSpan.Zero
        ? (long)span.TotalMilliseconds
        : throw new ArgumentOutOfRangeException(name, span, $"{name} must not be negative");

    /// <summary>A wait's milliseconds for the wire: 0 (no limit) for zero or infinite.</summary>
    private static string WaitMilliseconds(TimeSpan timeout, string name)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
            return "0";
        if (timeout < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(name, timeout, "a timeout must not be negative (Timeout.InfiniteTimeSpan: no limit)");
        // A positive sub-millisecond timeout must not become 0, which means no limit.
        return Number(Math.Max(timeout == TimeSpan.Zero ? 0 : 1, (long)Math.Ceiling(timeout.TotalMilliseconds)));
    }

    private static List<IReadOnlyList<RespValue>> Rows(string command, RespValue reply, int width)
    {
        if (reply.Kind != RespKind.Array || reply.Elements.Any(row => row.Kind != RespKind.Array || row.Elements.Count < width))
            throw Unexpected(command, reply);
        return [.. reply.Elements.Select(row => row.Elements)];
    }

    private static long Integer(string command, RespValue reply) =>
        reply.Kind == RespKind.Integer ? reply.IntegerValue : throw Unexpected(command, reply);

    /// <summary>An integer field; a bulk string of digits is accepted too.</summary>
    private static long Number(string command, RespValue value) => value.Kind switch
    {
        RespKind.Integer => value.IntegerValue,
        RespKind.BulkString when long.TryParse(value.Text, NumberStyles.None, CultureInfo.InvariantCulture, out long n) => n,
        _ => throw Unexpected(command, value),
    };

    private static DateTimeOffset? Time(RespValue value)
    {
        long ms = Number("STATUS", value);
        return ms == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(ms);
    }

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    private static InvalidOperationException Unexpected(string command, RespValue reply) =>
        new($"unexpected reply to {command}: {reply}");
}
