using System.Buffers;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using EventLoop.Protocol;
using EventLoop.Reactor;
using EventLoop.Stores;
using EventLoop.Tasks;

namespace EventLoop.Commands;

/// <summary>
/// Runs one parsed request on the reactor thread: cheap commands are answered inline (still behind the
/// connection's pending tasks), <c>RUN</c> goes to the workers. Owned by the Reactor.
/// </summary>
internal sealed class CommandDispatcher(ReactorLoop reactor, TaskRegistry tasks, IQueueStore store) : CommandGroup(reactor)
{
    private static ReadOnlySpan<byte> Pong => "+PONG\r\n"u8;
    private static ReadOnlySpan<byte> Ok => "+OK\r\n"u8;
    private static ReadOnlySpan<byte> EmptyArray => "*0\r\n"u8;

    private readonly InfoCommand _info = new(reactor, tasks, store);
    private readonly QueueCommands _queue = new(reactor, reactor.Store, store);

    /// <summary>
    /// Opens the queue's store (--store) with the dispatcher: the reactor builds it before binding its socket, so a
    /// store that cannot start (PostgreSQL unreachable) fails the server's start instead of its first request.
    /// </summary>
    public CommandDispatcher(ReactorLoop reactor, TaskRegistry tasks)
        : this(reactor, tasks, QueueStores.Open(reactor, tasks))
    {
    }

    /// <summary>Where the queue lives (--store).</summary>
    public IQueueStore QueueStore => store;

    /// <summary>FETCH, ACK, FAIL, NACK, TOUCH.</summary>
    public WorkerCommands Workers { get; } = new(reactor, store);
    // Compared as digests so the comparison takes the same time whatever the password's length or content.
    private readonly byte[]? _passwordDigest = reactor.Options.RequirePass is { } password
        ? SHA256.HashData(Encoding.UTF8.GetBytes(password)) : null;

    /// <summary>
    /// Runs one request. With the journal on, a request that may change journaled state is refused while the
    /// journal cannot write (-MISCONF, as Redis does), and otherwise runs between BeginCommand and
    /// EndCommand, so its reply waits for its records to be written.
    /// </summary>
    public void Execute(Connection connection, in RespCommand command)
    {
        if (Reactor.Latency is not { Commands.Enabled: true } latency)
        {
            ExecuteJournaled(connection, command);
            return;
        }
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        ExecuteJournaled(connection, command);
        latency.RecordCommand(command[0], started);
    }

    /// <summary>Runs the command; one that changes journaled state has its reply held until its records are written.</summary>
    private void ExecuteJournaled(Connection connection, in RespCommand command)
    {
        if (Reactor.Journal is not { } journal || !connection.Authenticated || !IsJournaled(command))
        {
            Dispatch(connection, command);
            return;
        }
        if (journal.Failure is { } failure)
        {
            Error(connection, $"MISCONF journal write failed: {failure}");
            return;
        }
        Reactor.BeginCommand(connection);
        try
        {
            Dispatch(connection, command);
        }
        finally
        {
            Reactor.EndCommand(connection);
        }
    }

    /// <summary>The verbs that change what the journal records (their read-only subcommands excepted).</summary>
    private static bool IsJournaled(in RespCommand command) =>
        command.Is(0, "SUBMIT"u8) || command.Is(0, "ACK"u8) || command.Is(0, "FAIL"u8) || command.Is(0, "NACK"u8)
        || command.Is(0, "FETCH"u8) || command.Is(0, "CANCEL"u8) || command.Is(0, "QUEUE"u8)
        || (command.Is(0, "SCHEDULE"u8) && !command.Is(1, "LIST"u8)) || (command.Is(0, "DEAD"u8) && !command.Is(1, "LIST"u8));

    private void Dispatch(Connection connection, in RespCommand command)
    {
        if (!connection.Authenticated && !command.Is(0, "AUTH"u8) && !command.Is(0, "HELLO"u8) && !command.Is(0, "QUIT"u8))
        {
            Error(connection, "NOAUTH Authentication required.");
            return;
        }
        // Most frequent first: RUN and PING are the hot path.
        if (command.Is(0, "RUN"u8)) Run(connection, command);
        else if (command.Is(0, "PING"u8)) Ping(connection, command);
        else if (command.Is(0, "ECHO"u8)) Echo(connection, command);
        else if (command.Is(0, "SUBMIT"u8)) _queue.Submit(connection, command);
        else if (command.Is(0, "FETCH"u8)) Workers.Fetch(connection, command);
        else if (command.Is(0, "ACK"u8)) Workers.Ack(connection, command);
        else if (command.Is(0, "TOUCH"u8)) Workers.Touch(connection, command);
        else if (command.Is(0, "FAIL"u8)) Workers.Fail(connection, command);
        else if (command.Is(0, "NACK"u8)) Workers.Nack(connection, command);
        else if (command.Is(0, "RESULT"u8)) _queue.Result(connection, command);
        else if (command.Is(0, "STATUS"u8)) _queue.Status(connection, command);
        else if (command.Is(0, "WAIT"u8)) _queue.Wait(connection, command);
        else if (command.Is(0, "CANCEL"u8)) _queue.Cancel(connection, command);
        else if (command.Is(0, "INFO"u8)) Info(connection, command);
        else if (command.Is(0, "SCHEDULE"u8)) _queue.Schedule(connection, command);
        else if (command.Is(0, "QUEUES"u8)) _queue.Queues(connection, command);
        else if (command.Is(0, "QUEUE"u8)) _queue.Queue(connection, command);
        else if (command.Is(0, "DEAD"u8)) _queue.Dead(connection, command);
        else if (command.Is(0, "TASKS"u8)) Tasks(connection, command);
        else if (command.Is(0, "CLIENT"u8)) Client(connection, command);
        else if (command.Is(0, "HELLO"u8)) Hello(connection, command);
        else if (command.Is(0, "QUIT"u8)) Quit(connection);
        else if (command.Is(0, "AUTH"u8)) Auth(connection, command);
        else if (command.Is(0, "COMMAND"u8)) Reply(connection).Write(EmptyArray);
        else if (command.Is(0, "CONFIG"u8)) Config(connection, command);
        else if (command.Is(0, "SELECT"u8)) Select(connection, command);
        else if (command.Is(0, "JOURNAL"u8) && command.Count == 2 && command.Is(1, "REWRITE"u8)) RewriteJournal(connection);
        else if (command.Is(0, "DEBUG"u8) && command.Count == 2 && command.Is(1, "JOURNAL-REWRITE"u8)) RewriteJournal(connection);
        else Error(connection, $"ERR unknown command '{Printable.Of(command[0])}'");
    }

    private void Run(Connection connection, in RespCommand command)
    {
        if (!CheckArity(connection, command, 2, int.MaxValue))
            return;
        if (!tasks.TryGet(command[1], out TaskDefinition? task))
        {
            Error(connection, $"ERR unknown task '{Printable.Of(command[1])}'");
            return;
        }
        Reactor.Submit(connection, task!, command);
    }

    private void Ping(Connection connection, in RespCommand command)
    {
        if (!CheckArity(connection, command, 1, 2))
            return;
        if (command.Count == 1)
            Reply(connection).Write(Pong);
        else
            RespWriter.WriteBulkString(Reply(connection), command[1]);
    }

    private void Echo(Connection connection, in RespCommand command)
    {
        if (CheckArity(connection, command, 2, 2))
            RespWriter.WriteBulkString(Reply(connection), command[1]);
    }

    private void Info(Connection connection, in RespCommand command)
    {
        if (CheckArity(connection, command, 1, 2))
            RespWriter.WriteBulkString(Reply(connection), _info.Render(command.Count == 2 ? Printable.Of(command[1]) : null));
    }

    private void Tasks(Connection connection, in RespCommand command)
    {
        if (!CheckArity(connection, command, 1, 1))
            return;
        IReadOnlyList<TaskDefinition> all = tasks.All;
        IBufferWriter<byte> reply = Reply(connection);
        RespWriter.WriteArrayHeader(reply, all.Count);
        foreach (TaskDefinition task in all)
        {
            RespWriter.WriteArrayHeader(reply, 2);
            RespWriter.WriteBulkString(reply, task.Name);
            RespWriter.WriteBulkString(reply, task.Description);
        }
    }

    private void Client(Connection connection, in RespCommand command)
    {
        if (!CheckArity(connection, command, 2, int.MaxValue))
            return;
        if (command.Is(1, "ID"u8) && command.Count == 2)
            RespWriter.WriteInteger(Reply(connection), connection.Id);
        else if (command.Is(1, "GETNAME"u8) && command.Count == 2)
            WriteName(connection);
        else if (command.Is(1, "SETNAME"u8) && command.Count == 3)
            SetName(connection, command[2]);
        else if (command.Is(1, "SETINFO"u8) && command.Count == 4)
            Reply(connection).Write(Ok); // client libraries announce themselves; nothing to keep
        else if (command.Is(1, "KILL"u8) && command.Is(2, "ID"u8) && command.Count == 4)
            Kill(connection, command[3]);
        else
            Error(connection, $"ERR unknown subcommand or wrong number of arguments for 'CLIENT {Printable.Of(command[1])}'");
    }

    /// <summary>
    /// CLIENT KILL ID id: answers how many clients were closed (0 or 1). As in Redis, a client does not
    /// kill itself this way (SKIPME defaults to yes).
    /// </summary>
    private void Kill(Connection connection, ReadOnlySpan<byte> rawId)
    {
        if (!Utf8Parser.TryParse(rawId, out long id, out int consumed) || consumed != rawId.Length || id < 1)
        {
            Error(connection, "ERR client-id should be greater than 0");
            return;
        }
        bool killed = id != connection.Id && Reactor.KillClient(id);
        RespWriter.WriteInteger(Reply(connection), killed ? 1 : 0);
    }

    private void WriteName(Connection connection)
    {
        if (connection.Name is null)
            RespWriter.WriteNullBulkString(Reply(connection));
        else
            RespWriter.WriteBulkString(Reply(connection), connection.Name);
    }

    private void SetName(Connection connection, ReadOnlySpan<byte> name)
    {
        if (name.ContainsAnyInRange((byte)0, (byte)' ') || name.ContainsAnyInRange((byte)127, (byte)255))
        {
            Error(connection, "ERR Client names cannot contain spaces, newlines or special characters.");
            return;
        }
        connection.Name = name.IsEmpty ? null : Encoding.ASCII.GetString(name);
        Reply(connection).Write(Ok);
    }

    /// <summary>AUTH [default] password.</summary>
    private void Auth(Connection connection, in RespCommand command)
    {
        if (!CheckArity(connection, command, 2, 3))
            return;
        if (_passwordDigest is null)
        {
            Error(connection, "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
            return;
        }
        if (TryAuthenticate(connection, command.Count == 3 ? command[1] : "default"u8, command[command.Count - 1]))
            Reply(connection).Write(Ok);
    }

    private bool TryAuthenticate(Connection connection, ReadOnlySpan<byte> user, ReadOnlySpan<byte> password)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(password, digest);
        bool matches = CryptographicOperations.FixedTimeEquals(digest, _passwordDigest) & user.SequenceEqual("default"u8);
        if (!matches)
            Error(connection, "WRONGPASS invalid username-password pair or user is disabled.");
        connection.Authenticated |= matches;
        return matches;
    }

    /// <summary>HELLO [2 [AUTH user password] [SETNAME name]]: only RESP2 is spoken.</summary>
    private void Hello(Connection connection, in RespCommand command)
    {
        if (command.Count >= 2 && !command.Is(1, "2"u8))
        {
            Error(connection, "NOPROTO this server speaks RESP2 only");
            return;
        }
        string? name = null;
        for (int i = 2; i < command.Count; i++)
        {
            if (command.Is(i, "AUTH"u8) && i + 2 < command.Count && _passwordDigest is not null)
            {
                if (!TryAuthenticate(connection, command[i + 1], command[i + 2]))
                    return;
                i += 2;
            }
            else if (command.Is(i, "SETNAME"u8) && i + 1 < command.Count)
            {
                name = Encoding.ASCII.GetString(command[++i]);
            }
            else
            {
                Error(connection, $"ERR Syntax error in HELLO option '{Printable.Of(command[i])}'");
                return;
            }
        }
        if (!connection.Authenticated)
        {
            Error(connection, "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used");
            return;
        }
        connection.Name = name ?? connection.Name;
        IBufferWriter<byte> reply = Reply(connection);
        RespWriter.WriteArrayHeader(reply, 14);
        RespWriter.WriteBulkString(reply, "server");
        RespWriter.WriteBulkString(reply, "eventloop");
        RespWriter.WriteBulkString(reply, "version");
        RespWriter.WriteBulkString(reply, InfoCommand.Version);
        RespWriter.WriteBulkString(reply, "proto");
        RespWriter.WriteInteger(reply, 2);
        RespWriter.WriteBulkString(reply, "id");
        RespWriter.WriteInteger(reply, connection.Id);
        RespWriter.WriteBulkString(reply, "mode");
        RespWriter.WriteBulkString(reply, "standalone");
        RespWriter.WriteBulkString(reply, "role");
        RespWriter.WriteBulkString(reply, "master");
        RespWriter.WriteBulkString(reply, "modules");
        RespWriter.WriteArrayHeader(reply, 0);
    }

    /// <summary>JOURNAL REWRITE (or DEBUG JOURNAL-REWRITE): compacts the journal in the background.</summary>
    private void RewriteJournal(Connection connection)
    {
        if (Reactor.Journal is not { } journal)
            Error(connection, "ERR the journal is off (--appendonly no)");
        else if (!journal.StartRewrite())
            Error(connection, "ERR a journal rewrite is already in progress");
        else
            Reply(connection).Write("+Background journal rewrite started\r\n"u8);
    }

    private void Quit(Connection connection)
    {
        Reply(connection).Write(Ok);
        Reactor.CloseAfterReplies(connection);
    }

    /// <summary>
    /// CONFIG GET pattern: the server's settings as name/value pairs (exact name or "*"). Tools probe
    /// <c>save</c> and <c>appendonly</c> (redis-benchmark warns without them), so those answer as a
    /// server without persistence does.
    /// </summary>
    private void Config(Connection connection, in RespCommand command)
    {
        if (command.Count != 3 || !command.Is(1, "GET"u8))
        {
            Error(connection, "ERR only CONFIG GET <name|*> is supported");
            return;
        }
        string pattern = Encoding.ASCII.GetString(command[2]).ToLowerInvariant();
        ServerOptions options = Reactor.Options;
        (string Name, string Value)[] settings =
        [
            ("save", ""),
            ("appendonly", options.AppendOnly ? "yes" : "no"),
            ("appendfsync", Journal.FsyncPolicies.Name(options.AppendFsync)),
            ("dir", options.Dir),
            ("bind", options.BindAddress),
            ("port", Reactor.Port.ToString()),
            ("maxclients", options.MaxClients.ToString()),
            ("timeout", ((long)options.IdleTimeout.TotalSeconds).ToString()),
            ("backend", Reactor.BackendName),
            ("workers", options.Workers.ToString()),
            ("ring-capacity", options.RingCapacity.ToString()),
            ("max-inflight", options.MaxInflight.ToString()),
            ("max-output-bytes", options.MaxOutputBytes.ToString()),
            ("max-arg-bytes", options.MaxArgBytes.ToString()),
            ("max-args", options.MaxArgs.ToString()),
        ];
        var matches = settings.Where(s => pattern == "*" || s.Name == pattern).ToList();
        IBufferWriter<byte> reply = Reply(connection);
        RespWriter.WriteArrayHeader(reply, matches.Count * 2);
        foreach ((string name, string value) in matches)
        {
            RespWriter.WriteBulkString(reply, name);
            RespWriter.WriteBulkString(reply, value);
        }
    }

    /// <summary>SELECT 0 succeeds so that clients configured for database 0 connect; there is only one.</summary>
    private void Select(Connection connection, in RespCommand command)
    {
        if (!CheckArity(connection, command, 2, 2))
            return;
        if (command.Is(1, "0"u8))
            Reply(connection).Write(Ok);
        else
            Error(connection, "ERR DB index is out of range");
    }
}
