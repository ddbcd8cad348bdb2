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
    private static readonly string[] NackOptions = ["DELAY"];
    private static readonly string[] TouchOptions = ["LEASE"];

    /// <summary>Connections that have fetched at least once and are open.</summary>
    public int Fetchers { get; private set; }

    /// <summary>FETCH [COUNT n] [BLOCK ms] [LEASE ms] FROM q [q…].</summary>
    public void Fetch(Connection connection, in RespCommand command)
    {
        long count = 1, block = -1, leaseMs = DefaultLeaseMs;
        int from = -1;
        bool countSeen = false, leaseSeen = false;
        for (int i = 1; i < command.Count; i += 2)
        {
            if (command.Is(i, "FROM"u8))
            {
                from = i + 1;
                break;
            }
            string? invalid;
            if (command.Is(i, "COUNT"u8))
                invalid = Option(command, i, "COUNT", ref countSeen, ref count, min: 1, max: MaxFetchCount, "a positive integer");
            else if (command.Is(i, "BLOCK"u8))
            {
                bool blockSeen = block >= 0;
                long value = 0;
                invalid = Option(command, i, "BLOCK", ref blockSeen, ref value, min: 0, max: int.MaxValue, "a non-negative integer");
                block = value;
            }
            else if (command.Is(i, "LEASE"u8))
                invalid = Option(command, i, "LEASE", ref leaseSeen, ref leaseMs, min: 1, max: MaxLeaseMs, "a positive integer");
            else
                invalid = $"ERR unknown option '{Printable.Of(command[i])}'";
            if (invalid is not null)
            {
                Error(connection, invalid);
                return;
            }
        }
        if (from < 0 || from >= command.Count)
        {
            Error(connection, from < 0 ? "ERR syntax error: FROM expected" : "ERR syntax error: a queue name expected after FROM");
            return;
        }
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
            if (!command.Is(i, "NORETRY"u8) || i > 4)
            {
                Error(connection, command.Is(i, "NORETRY"u8) ? "ERR option 'NORETRY' given twice" : $"ERR unknown option '{Printable.Of(command[i])}'");
                return;
            }
        }
        if (Settle(connection, command, 4, "fail", out int attempt))
            store.Fail(connection, command[1], attempt, command[3], noRetry: command.Count > 4);
    }

    /// <summary>NACK id attempt [DELAY ms].</summary>
    public void Nack(Connection connection, in RespCommand command)
    {
        if (TryOneNumber(connection, command, NackOptions, min: 0, max: TaskStore.LatestUnixMs - Reactor.Store.Clock.UnixMs, "a non-negative integer", out long delay)
            && Settle(connection, command, 3, "nack", out int attempt))
            store.Nack(connection, command[1], attempt, Math.Max(0, delay));
    }

    /// <summary>TOUCH id attempt [LEASE ms].</summary>
    public void Touch(Connection connection, in RespCommand command)
    {
        if (TryOneNumber(connection, command, TouchOptions, min: 1, max: MaxLeaseMs, "a positive integer", out long leaseMs)
            && Settle(connection, command, 3, "touch", out int attempt))
            store.Touch(connection, command[1], attempt, (int)Math.Max(0, leaseMs));
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

    /// <summary>
    /// The one option NACK or TOUCH may carry after id and attempt, its number in min..max (-1 when not given); answers
    /// the error itself.
    /// </summary>
    private bool TryOneNumber(Connection connection, in RespCommand command, string[] word, long min, long max, string what, out long value)
    {
        value = -1;
        if (command.Count < 3)
            return true; // Settle names the arity
        Span<int> at = stackalloc int[1];
        if (!TryOptionPairs(connection, command, 3, word, at))
            return false;
        if (at[0] < 0)
            return true;
        if (!SubmitOptions.TryNumber(command[at[0]], out value) || value < min || value > max)
        {
            Error(connection, $"ERR {word[0]} must be {what}{(value > max ? $" up to {max}" : "")}");
            return false;
        }
        return true;
    }

    private static string? Option(in RespCommand command, int index, string name, ref bool seen, ref long value, long min, long max, string what)
    {
        if (seen)
            return $"ERR option '{name}' given twice";
        seen = true;
        if (index + 1 >= command.Count)
            return $"ERR syntax error: {name} needs a value";
        if (!SubmitOptions.TryNumber(command[index + 1], out value) || value < min || value > max)
            return $"ERR {name} must be {what}{(value > max ? $" up to {max}" : "")}";
        return null;
    }
}
