using System.Buffers;
using EventLoop.Reactor;

namespace EventLoop.Stores.Postgres;

/// <summary>
/// A request's place in its connection's reply order while PostgreSQL answers: a parked reply slot
/// (<see cref="ReactorLoop.AppendReplySlot"/>), so requests pipelined behind it still answer after it. Filled by
/// <see cref="Send"/> when the answer comes back; a closed connection abandons it; a stopping server (or a
/// deadline armed with <see cref="ParkedReply.ExpireAfter"/>) expires it with <paramref name="timedOut"/>. Reactor-owned.
/// </summary>
internal sealed class StoreReply(ReactorLoop reactor, Connection connection, Action<IBufferWriter<byte>> timedOut, Action? released = null)
    : ParkedReply(reactor.Parked, connection, reactor.AppendReplySlot(connection))
{
    /// <summary>
    /// What a request answers when it must answer before PostgreSQL did (the server stops, or the client shut its
    /// sending side): the change it asked for may still be made.
    /// </summary>
    public static readonly Action<IBufferWriter<byte>> NotAnsweredYet =
        writer => Protocol.RespWriter.WriteError(writer, "ERR PostgreSQL had not answered yet (the server is stopping or the client closed its side); the change may still be made");

    /// <summary>False once answered, expired or abandoned: a late answer then goes nowhere.</summary>
    public bool Open { get; private set; } = true;

    public IBufferWriter<byte> Writer => Slot.Reply;

    /// <summary>The reply is written to <see cref="Writer"/>: release it in its turn.</summary>
    public void Send()
    {
        if (!Open)
            return;
        Release();
        Deliver();
    }

    protected override void Release()
    {
        Open = false;
        released?.Invoke();
    }

    protected override void WriteTimedOutReply() => timedOut(Slot.Reply);
}
