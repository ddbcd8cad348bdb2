using System.Buffers;
using System.Text;
using EventLoop.Protocol;
using EventLoop.Reactor;

namespace EventLoop.Commands;

/// <summary>
/// What every family of commands shares: where a reply goes (in its connection's order, through the
/// reactor) and the common error shapes. Runs on the reactor thread.
/// </summary>
internal abstract class CommandGroup(ReactorLoop reactor)
{
    protected ReactorLoop Reactor { get; } = reactor;

    protected IBufferWriter<byte> Reply(Connection connection) => Reactor.BeginReply(connection);

    protected void Error(Connection connection, string message) => RespWriter.WriteError(Reply(connection), message);

    /// <summary>Redis's arity error, naming the command as the client wrote it, when the word count is outside min..max.</summary>
    protected bool CheckArity(Connection connection, in RespCommand command, int min, int max)
    {
        if (command.Count >= min && command.Count <= max)
            return true;
        Error(connection, $"ERR wrong number of arguments for '{Printable.Of(command[0]).ToLowerInvariant()}' command");
        return false;
    }

    /// <summary>
    /// Reads the "WORD value" pairs from <paramref name="start"/> up to <paramref name="end"/>: <paramref name="values"/>[k]
    /// becomes the index of <paramref name="words"/>[k]'s value, or stays -1 when it is not given. Answers the first
    /// problem itself (a word not in the list, one given twice, one without its value) and returns false.
    /// </summary>
    protected bool TryOptionPairs(Connection connection, in RespCommand command, int start, int end, string[] words, Span<int> values)
    {
        values.Fill(-1);
        for (int i = start; i < end; i += 2)
        {
            int k = words.Length - 1;
            while (k >= 0 && !Ascii.EqualsIgnoreCase(command[i], words[k]))
                k--;
            string? problem = k < 0 ? $"ERR unknown option '{Printable.Of(command[i])}'"
                : values[k] >= 0 ? $"ERR option '{words[k]}' given twice"
                : i + 1 >= end ? $"ERR syntax error: {words[k]} needs a value"
                : null;
            if (problem is not null)
            {
                Error(connection, problem);
                return false;
            }
            values[k] = i + 1;
        }
        return true;
    }

    /// <summary>
    /// The number at <paramref name="at"/> (an index <see cref="TryOptionPairs"/> gave; -1: not given, and the value is
    /// <paramref name="absent"/>), in min..max; answers "NAME must be …" itself and returns false otherwise.
    /// </summary>
    protected bool TryNumberOption(Connection connection, in RespCommand command, int at, string name, long min, long max, string what, long absent, out long value)
    {
        value = absent;
        if (at < 0 || (SubmitOptions.TryNumber(command[at], out value) && value >= min && value <= max))
            return true;
        Error(connection, $"ERR {name} must be {what}{(value > max ? $" up to {max}" : "")}");
        return false;
    }
}
