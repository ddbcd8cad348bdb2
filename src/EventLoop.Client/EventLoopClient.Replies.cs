using System.Buffers;

namespace EventLoop.Client;

// How requests go out and replies come back: every call is a sink that expects some number of replies and parses
// them itself, straight from the receive buffer. A plain command builds a RespValue tree; FETCH builds its tasks and
// ACK its outcome without one, so a worker's steady state allocates nothing per reply beyond what it hands out.
public sealed partial class EventLoopClient
{
    // Receive and send buffers: a FETCH COUNT 64 reply or a batch of 64 ACKs fits in one, so each is one read or send.
    private const int BufferSize = 64 * 1024;

    /// <summary>
    /// Queues <paramref name="request"/> for the wire and <paramref name="call"/> for its replies in one step under
    /// the gate, so replies are matched to calls in wire order.
    /// </summary>
    private Task<T> Send<T, TRequest>(Call<T> call, int replies, TRequest request) where TRequest : struct, IRequest
    {
        bool startSending;
        lock (_gate)
        {
            if (_failure is not null)
            {
                call.Fail(_failure);
                return call.Task;
            }
            _pending.Enqueue(new ExpectedReplies(call, replies));
            request.Write(_outbox.Writer);
            // Never pauses (pauseWriterThreshold 0) and no reader awaits it, so this completes at once.
            _outbox.Writer.FlushAsync().GetAwaiter().GetResult();
            startSending = !_sending;
            _sending = true;
        }
        if (startSending)
            _ = SendPendingAsync(); // catches everything itself: a send error fails the connection
        return call.Task;
    }

    /// <summary>A request's encoding, written into the outbox under the gate (a struct, so sending one allocates nothing).</summary>
    private interface IRequest
    {
        void Write(IBufferWriter<byte> writer);
    }

    private readonly struct CommandRequest(ReadOnlyMemory<byte>[] arguments) : IRequest
    {
        public void Write(IBufferWriter<byte> writer) => RespRequestEncoder.WriteCommand(writer, arguments);
    }

    private readonly struct CommandBatchRequest(IReadOnlyList<ReadOnlyMemory<byte>[]> commands) : IRequest
    {
        public void Write(IBufferWriter<byte> writer)
        {
            foreach (ReadOnlyMemory<byte>[] command in commands)
                RespRequestEncoder.WriteCommand(writer, command);
        }
    }

    /// <summary>A sink and how many replies it takes (a batch of commands is one entry).</summary>
    private readonly record struct ExpectedReplies(IReplySink Sink, int Replies);

    /// <summary>Where replies go: parsed by the sink itself while the bytes are still in the receive buffer.</summary>
    private interface IReplySink
    {
        /// <summary>Takes one complete reply; called by the receive loop only, once per reply, in order.</summary>
        void Complete(ReadOnlySpan<byte> reply);

        void Fail(Exception failure);
    }

    /// <summary>
    /// Hands each framed reply to the sink at the head of the pending queue, taking the gate once per sink rather than
    /// once per reply. Owned by the receive loop.
    /// </summary>
    private sealed class ReplyRouter(EventLoopClient client)
    {
        private IReplySink? _sink; // the head of _pending while its replies come in
        private int _left;         // its replies still to come

        public void Deliver(ReadOnlySequence<byte> reply)
        {
            if (_sink is null)
                lock (client._gate)
                    Peek();
            if (_sink is null)
                throw new InvalidOperationException("a reply came with no request waiting for it");
            if (reply.IsSingleSegment)
            {
                _sink.Complete(reply.FirstSpan);
            }
            else
            {
                // Rare with 64 KiB buffers: a reply that straddles two reads is parsed from one pooled copy.
                int length = checked((int)reply.Length);
                byte[] contiguous = ArrayPool<byte>.Shared.Rent(length);
                try
                {
                    reply.CopyTo(contiguous);
                    _sink.Complete(contiguous.AsSpan(0, length));
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(contiguous);
                }
            }
            if (--_left > 0)
                return;
            lock (client._gate)
            {
                // After a failure the queue was emptied (and its sinks failed) by Fail: nothing to take off.
                if (client._failure is null)
                    client._pending.Dequeue();
                Peek();
            }
        }

        private void Peek() =>
            (_sink, _left) = client._failure is null && client._pending.TryPeek(out ExpectedReplies head) ? (head.Sink, head.Replies) : (null, 0);
    }

    /// <summary>
    /// One call's task, completed by the receive loop when its last reply is in, or failed, or cancelled. A reply the
    /// call cannot make sense of fails the call alone: the framing is checked apart, so the connection stays in step.
    /// </summary>
    private abstract class Call<T> : IReplySink
    {
        private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private CancellationTokenRegistration _cancellation;

        public Task<T> Task => _completion.Task;

        public void CancelWith(CancellationToken token)
        {
            if (token.CanBeCanceled)
                _cancellation = token.Register(static state =>
                {
                    var (call, t) = ((Call<T>, CancellationToken))state!;
                    call._completion.TrySetCanceled(t);
                }, (this, token));
        }

        public void Complete(ReadOnlySpan<byte> reply)
        {
            T result;
            try
            {
                if (!Take(reply, out result))
                    return;
            }
            catch (Exception e) when (e is RespErrorException or FormatException)
            {
                Fail(e); // a batch keeps taking its other replies; the first failure is what its task reports
                return;
            }
            _completion.TrySetResult(result); // false when cancelled or failed: the reply is discarded
            _cancellation.Dispose();
        }

        public void Fail(Exception failure)
        {
            _completion.TrySetException(failure);
            _cancellation.Dispose();
        }

        /// <summary>Parses one reply; true with the call's result once its last reply is in.</summary>
        protected abstract bool Take(ReadOnlySpan<byte> reply, out T result);
    }

    /// <summary>Turns one reply into a call's value; throws <see cref="RespErrorException"/> or <see cref="FormatException"/> for a reply it refuses.</summary>
    private delegate T ReplyParser<T>(ReadOnlySpan<byte> reply);

    /// <summary>A plain command's reply as a <see cref="RespValue"/>.</summary>
    private static readonly ReplyParser<RespValue> ValueReply = RespValueParser.Parse;

    /// <summary>One command: its reply, parsed.</summary>
    private sealed class SingleCall<T>(ReplyParser<T> parse) : Call<T>
    {
        protected override bool Take(ReadOnlySpan<byte> reply, out T result)
        {
            result = parse(reply);
            return true;
        }
    }

    /// <summary>A batch of commands: their parsed replies in order, or the first refusal.</summary>
    private sealed class BatchCall<T>(int count, ReplyParser<T> parse) : Call<T[]>
    {
        private readonly T[] _results = new T[count];
        private int _received;

        protected override bool Take(ReadOnlySpan<byte> reply, out T[] result)
        {
            result = _results;
            int index = _received++; // counted first: a refused reply must not put the later ones out of step
            _results[index] = parse(reply);
            return _received == _results.Length;
        }
    }
}
