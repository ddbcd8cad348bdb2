using System.Buffers;
using System.Text;
using EventLoop.Protocol;
using EventLoop.Queueing;
using EventLoop.Reactor;
using EventLoop.Stores;
using EventLoop.Workers;

namespace EventLoop.Commands;

/// <summary>
/// The external workers' verbs: FETCH leases tasks to the connection, ACK / FAIL / NACK / TOUCH settle or
/// renew a lease named by id and attempt (from any connection: workers use pools; the attempt is the
/// fence). Parses and checks the words; the queue's store (<see cref="IQueueStore"/>) decides and answers.
/// Runs on the reactor thread.
/// </summary>
internal sealed class WorkerCommands(ReactorLoop reactor, IQueueStore store) : CommandGroup(reactor)
{
    public const int DefaultLeaseMs = 30_000;
    public const int MaxFetchCount = 10_000;
    /// <summary>A day: a lease longer than that is a lost task nobody notices.</summary>
    public const int MaxLeaseMs = 86_400_000;
    private static readonly string[] FetchOptions = ["COUNT", "BLOCK", "LEASE"];
    private static readonly string[] NackOptions = ["DELAY"];
    private static readonly string[] TouchOptions = ["LEASE"];

    /// <summary>Connections that have fetched at least once and are open.</summary>
    public int Fetchers { get; private set; }

    /// <summary>FETCH [COUNT n] [BLOCK ms] [LEASE ms] FROM q [q…].</summary>
    public void Fetch(Connection connection, in RespCommand command)
    {
        int fromWord = -1;
        for (int i = 1; i < command.Count && fromWord < 0; i += 2)
        {
            if (command.Is(i, "FROM"u8))
                fromWord = i;
        }
        Span<int> values = stackalloc int[3];
        if (!TryOptionPairs(connection, command, 1, fromWord < 0 ? command.Count : fromWord, FetchOptions, values))
            return;
        if (fromWord < 0 || fromWord + 1 >= command.Count)
        {
            Error(connection, fromWord < 0 ? "ERR syntax error: FROM expected" : "ERR syntax error: a queue name expected after FROM");
            return;
        }
        if (!TryNumberOption(connection, command, values[0], "COUNT", 1, MaxFetchCount, "a positive integer", 1, out long count)
            || !TryNumberOption(connection, command, values[1], "BLOCK", 0, int.MaxValue, "a non-negative integer", -1, out long block)
            || !TryNumberOption(connection, command, values[2], "LEASE", 1, MaxLeaseMs, "a positive integer", DefaultLeaseMs, out long leaseMs))
            return;
        int from = fromWord + 1;
        for (int i = from; i < command.Count; i++)
        {
            if (!SubmitOptions.IsName(command[i]))
            {
                Error(connection, SubmitOptions.BadQueueName);
                return;
            }
        }
        if (connection.Leases is null)
        {
            connection.Leases = new LeaseSet(); // also the mark of a fetcher, whichever store holds its deliveries
            Fetchers++;
        }
        store.Fetch(connection, command, from, (int)count, block, (int)leaseMs);
    }

    /// <summary>ACK id attempt [result].</summary>
    public void Ack(Connection connection, in RespCommand command)
    {
        if (CheckArity(connection, command, 3, 4) && Settle(connection, command, 3, "ack", out int attempt))
            store.Ack(connection, command[1], attempt, command.Count == 4 ? command[3] : default);
    }

    /// <summary>FAIL id attempt message [NORETRY].</summary>
    public void Fail(Connection connection, in RespCommand command)
    {
        for (int i = 4; i < command.Count; i++)
        {
            bool noRetry = command.Is(i, "NORETRY"u8);
            if (noRetry && i == 4)
                continue;
            Error(connection, noRetry ? "ERR option 'NORETRY' given twice" : $"ERR unknown option '{Printable.Of(command[i])}'");
            return;
        }
        if (Settle(connection, command, 4, "fail", out int attempt))
            store.Fail(connection, command[1], attempt, command[3], noRetry: command.Count > 4);
    }

    /// <summary>NACK id attempt [DELAY ms].</summary>
    public void Nack(Connection connection, in RespCommand command)
    {
        Span<int> at = stackalloc int[1];
        if (Settle(connection, command, 3, "nack", out int attempt)
            && TryOptionPairs(connection, command, 3, command.Count, NackOptions, at)
            && TryNumberOption(connection, command, at[0], "DELAY", 0, TaskStore.LatestUnixMs - Reactor.Store.Clock.UnixMs, "a non-negative integer", 0, out long delay))
            store.Nack(connection, command[1], attempt, delay);
    }

    /// <summary>TOUCH id attempt [LEASE ms]: without LEASE, as long as first asked.</summary>
    public void Touch(Connection connection, in RespCommand command)
    {
        Span<int> at = stackalloc int[1];
        if (Settle(connection, command, 3, "touch", out int attempt)
            && TryOptionPairs(connection, command, 3, command.Count, TouchOptions, at)
            && TryNumberOption(connection, command, at[0], "LEASE", 1, MaxLeaseMs, "a positive integer", 0, out long leaseMs))
            store.Touch(connection, command[1], attempt, (int)leaseMs);
    }

    /// <summary>A connection closed: the tasks it held go back to their queues.</summary>
    public void ConnectionClosed(Connection connection)
    {
        if (connection.Leases is null)
            return;
        Fetchers--;
        store.ConnectionClosed(connection);
    }

    /// <summary>Checks that the fixed words are there and the attempt a worker names; answers the error itself and returns false when they are malformed.</summary>
    private bool Settle(Connection connection, in RespCommand command, int fixedWords, string verb, out int attempt)
    {
        attempt = 0;
        if (command.Count < fixedWords)
        {
            Error(connection, $"ERR wrong number of arguments for '{verb}' command");
            return false;
        }
        if (!SubmitOptions.TryNumber(command[2], out long named) || named < 1 || named > int.MaxValue)
        {
            Error(connection, "ERR attempt must be a positive integer");
            return false;
        }
        attempt = (int)named;
        return true;
    }
}
