using System.Buffers;
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
}
