using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using EventLoop.Client;
using EventLoop.Tests.Server;

namespace EventLoop.Tests.Queueing;

/// <summary>
/// The task-queue contract tests' shared steps over a raw connection: every command goes on the wire as a
/// client sends it, and replies are parsed only to read values, never to excuse a wrong shape.
/// </summary>
internal static class QueueKit
{
    /// <summary>How long any wait for a state may take before the test fails: generous, for a loaded 2-core machine.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    public const string Nil = "$-1\r\n";

    public static long NowMs => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>Parses one raw reply (as <see cref="RawConnection.ReadReply"/> returns it).</summary>
    public static RespValue Parse(string raw)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(raw);
        return RespValueParser.Parse(new ReadOnlySequence<byte>(bytes));
    }

    /// <summary>True for either RESP2 nil (<c>$-1</c> or <c>*-1</c>).</summary>
    public static bool IsNil(string raw) => raw is "$-1\r\n" or "*-1\r\n";

    public static void AssertNil(string raw, string what = "reply") =>
        Assert.True(IsNil(raw), $"{what}: expected nil, got {Show(raw)}");

    public static string Show(string raw) => raw.Replace("\r\n", "\\r\\n");

    /// <summary>Sends a SUBMIT (the words after <c>SUBMIT</c>) and returns the id, failing on anything but a bulk id.</summary>
    public static string Submit(this RawConnection connection, params string[] words)
    {
        string raw = connection.Call(["SUBMIT", .. words]);
        Assert.True(raw.StartsWith('$') && !IsNil(raw), $"SUBMIT {string.Join(' ', words)} answered {Show(raw)}");
        return Parse(raw).Text!;
    }

    /// <summary>STATUS parsed by the client's parser (which checks the shape), or null for nil.</summary>
    public static TaskStatusInfo? Status(this RawConnection connection, string id)
    {
        string raw = connection.Call("STATUS", id);
        if (IsNil(raw))
            return null;
        Assert.StartsWith("*22\r\n", raw);
        return EventLoopClient.ParseStatus(Parse(raw));
    }

    public static TaskStatusInfo RequireStatus(this RawConnection connection, string id) =>
        connection.Status(id) ?? throw new Xunit.Sdk.XunitException($"STATUS {id} is nil");

    public static TaskState State(this RawConnection connection, string id) => connection.RequireStatus(id).State;

    /// <summary>Polls STATUS until <paramref name="done"/> holds (for states no command can wait for, such as running).</summary>
    public static TaskStatusInfo? PollStatus(this RawConnection connection, string id, Func<TaskStatusInfo?, bool> done, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            TaskStatusInfo? status = connection.Status(id);
            if (done(status))
                return status;
            if (clock.Elapsed > Patience)
                throw new TimeoutException($"task {id} never became {what}; last status: {status}");
            Thread.Sleep(10);
        }
    }

    public static TaskStatusInfo AwaitState(this RawConnection connection, string id, TaskState state) =>
        connection.PollStatus(id, s => s?.State == state, state.ToString())!;

    /// <summary>WAIT for the ids with a generous timeout; returns the count.</summary>
    public static long Wait(this RawConnection connection, IReadOnlyCollection<string> ids, TimeSpan? timeout = null)
    {
        TimeSpan limit = timeout ?? Patience;
        connection.SendCommand(["WAIT", ((long)limit.TotalMilliseconds).ToString(CultureInfo.InvariantCulture), .. ids]);
        string raw = connection.ReadReply(limit + TimeSpan.FromSeconds(10));
        Assert.True(raw.StartsWith(':'), $"WAIT answered {Show(raw)}");
        return Parse(raw).IntegerValue;
    }

    /// <summary>Waits until every id is finished, failing the test if they are not within the patience.</summary>
    public static void WaitAll(this RawConnection connection, params string[] ids) =>
        Assert.Equal(ids.Length, connection.Wait(ids));

    /// <summary>RESULT id TIMEOUT ms, read with a deadline past the timeout.</summary>
    public static string Result(this RawConnection connection, string id, int timeoutMs)
    {
        connection.SendCommand("RESULT", id, "TIMEOUT", timeoutMs.ToString(CultureInfo.InvariantCulture));
        return connection.ReadReply(TimeSpan.FromMilliseconds(timeoutMs == 0 ? Patience.TotalMilliseconds : timeoutMs) + TimeSpan.FromSeconds(20));
    }

    public static string Bulk(string text) => $"${Encoding.UTF8.GetByteCount(text)}\r\n{text}\r\n";

    /// <summary>The <c># Queueing</c> section of INFO as key → value.</summary>
    public static Dictionary<string, string> Info(this RawConnection connection)
    {
        string text = Parse(connection.Call("INFO", "queueing")).Text ?? "";
        Assert.Contains("# Queueing", text);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in text.Split("\r\n", StringSplitOptions.RemoveEmptyEntries))
        {
            int colon = line.IndexOf(':');
            if (colon > 0 && !line.StartsWith('#'))
                values[line[..colon]] = line[(colon + 1)..];
        }
        return values;
    }

    public static long InfoNumber(this RawConnection connection, string key)
    {
        Dictionary<string, string> info = connection.Info();
        Assert.True(info.TryGetValue(key, out string? value), $"INFO queueing has no '{key}'");
        return long.Parse(value, CultureInfo.InvariantCulture);
    }

    /// <summary>Polls INFO until <paramref name="key"/> equals <paramref name="expected"/>.</summary>
    public static void AwaitInfo(this RawConnection connection, string key, long expected, TimeSpan? patience = null)
    {
        var clock = Stopwatch.StartNew();
        long value;
        while ((value = connection.InfoNumber(key)) != expected)
        {
            if (clock.Elapsed > (patience ?? Patience))
                throw new TimeoutException($"INFO queueing {key} stayed {value}, expected {expected}");
            Thread.Sleep(10);
        }
    }

    /// <summary>QUEUES as name → (queued, running, scheduled, paused), checking each row's shape.</summary>
    public static Dictionary<string, (long Queued, long Running, long Scheduled, long Paused)> Queues(this RawConnection connection)
    {
        RespValue reply = Parse(connection.Call("QUEUES"));
        Assert.Equal(RespKind.Array, reply.Kind);
        var rows = new Dictionary<string, (long, long, long, long)>(StringComparer.Ordinal);
        var names = new List<string>();
        foreach (RespValue row in reply.Elements)
        {
            Assert.Equal(RespKind.Array, row.Kind);
            Assert.Equal(5, row.Elements.Count);
            Assert.Equal(RespKind.BulkString, row.Elements[0].Kind);
            for (int i = 1; i < 5; i++)
                Assert.Equal(RespKind.Integer, row.Elements[i].Kind);
            string name = row.Elements[0].Text!;
            names.Add(name);
            rows[name] = (row.Elements[1].IntegerValue, row.Elements[2].IntegerValue, row.Elements[3].IntegerValue, row.Elements[4].IntegerValue);
        }
        Assert.Equal(names.Order(StringComparer.Ordinal), names); // sorted by name
        return rows;
    }

    public static List<string> DeadList(this RawConnection connection, params string[] options)
    {
        RespValue reply = Parse(connection.Call(["DEAD", "LIST", .. options]));
        Assert.Equal(RespKind.Array, reply.Kind);
        return [.. reply.Elements.Select(e => e.Text!)];
    }

    /// <summary>A unique name for a queue, key or schedule, so tests sharing a server do not meet.</summary>
    public static string Unique(string prefix) => $"{prefix}-{Interlocked.Increment(ref _unique)}";

    private static long _unique;

    /// <summary>A gate a registered task waits on: tests open it when they have seen what they came to see.</summary>
    public sealed class Gate
    {
        private TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _entered;

        public int Entered => Volatile.Read(ref _entered);

        public async ValueTask PassAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _entered);
            await _open.Task.WaitAsync(cancellationToken);
        }

        public void Open() => _open.TrySetResult();

        public void Close() => _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
