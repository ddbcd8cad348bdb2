using System.Buffers;
using System.Text;

namespace EventLoop.Client;

/// <summary>One task leased by <see cref="EventLoopClient.FetchAsync"/>: settle it with the same id and attempt.</summary>
/// <param name="Id">The task's id.</param>
/// <param name="Attempt">The delivery number; the fence every ACK, FAIL, NACK and TOUCH about it quotes.</param>
/// <param name="Task">The task's name.</param>
/// <param name="Arguments">Its arguments as submitted: slices of one array per FETCH reply, valid as long as the task is referenced.</param>
public sealed record FetchedTask(string Id, long Attempt, string Task, IReadOnlyList<ReadOnlyMemory<byte>> Arguments);

/// <summary>What the server made of an ACK, FAIL, NACK or TOUCH.</summary>
public enum DeliveryOutcome
{
    /// <summary>Done: the delivery was current.</summary>
    Accepted,
    /// <summary><c>-STALE</c>: that attempt is no longer the task's current delivery (its lease was lost); nothing changed.</summary>
    Stale,
    /// <summary><c>-CANCELLED</c>: the task was cancelled while this delivery held it; stop working on it.</summary>
    Cancelled,
}

public sealed partial class EventLoopClient
{
    // FETCH replies are parsed on the receive loop, which alone owns this cache.
    private readonly TaskNames _taskNames = new();

    /// <summary>
    /// <c>FETCH [COUNT n] [BLOCK ms] [LEASE ms] FROM queues…</c>: leases up to <paramref name="count"/> tasks to this
    /// connection, highest priority first. With <paramref name="block"/> the call waits (parked on the server) until one
    /// arrives or the time is up; an empty list then. Replies on this connection wait behind a blocked FETCH, so keep
    /// settling on another connection.
    /// </summary>
    /// <remarks>
    /// The reply is parsed straight into the tasks, with no <see cref="RespValue"/> tree. Calls are pipelined like any
    /// other, so a worker can send the ACKs of one batch and the FETCH of the next together and wait once.
    /// </remarks>
    /// <exception cref="RespErrorException">The server refused the request.</exception>
    public Task<IReadOnlyList<FetchedTask>> FetchAsync(IReadOnlyList<string> queues, int count = 1, TimeSpan? block = null,
        TimeSpan? lease = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(queues);
        ArgumentOutOfRangeException.ThrowIfLessThan(queues.Count, 1, nameof(queues));
        if (cancellationToken.IsCancellationRequested)
            return Task.FromCanceled<IReadOnlyList<FetchedTask>>(cancellationToken);
        var call = new FetchCall(_taskNames);
        call.CancelWith(cancellationToken);
        return Send(call, 1, new FetchRequest(queues, count, block, lease));
    }

    /// <summary><c>ACK id attempt result</c>: the delivery succeeded with <paramref name="result"/>.</summary>
    /// <remarks>Encoded straight into the send buffer; the result's bytes are copied before this returns.</remarks>
    /// <exception cref="RespErrorException">The result was refused (over the server's max-result-bytes: the attempt failed).</exception>
    public Task<DeliveryOutcome> AckAsync(FetchedTask task, ReadOnlyMemory<byte> result)
    {
        ArgumentNullException.ThrowIfNull(task);
        return Send(new SingleCall<DeliveryOutcome>(OutcomeReply), 1, new AckRequest(task, result));
    }

    /// <summary>ACKs a batch of deliveries in one write (one reply task for all): how a worker settles what one FETCH gave it.</summary>
    /// <remarks>Encoded straight into the send buffer and answered by one task: nothing is allocated per delivery.</remarks>
    /// <returns>Each delivery's outcome, in the order given.</returns>
    /// <exception cref="RespErrorException">A result was refused (over the server's max-result-bytes: that attempt failed).</exception>
    public Task<DeliveryOutcome[]> AckManyAsync(IReadOnlyList<(FetchedTask Task, ReadOnlyMemory<byte> Result)> deliveries)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        return deliveries.Count == 0
            ? Task.FromResult<DeliveryOutcome[]>([])
            : Send(new BatchCall<DeliveryOutcome>(deliveries.Count, OutcomeReply), deliveries.Count, new AckBatchRequest(deliveries));
    }

    /// <summary><c>FAIL id attempt message [NORETRY]</c>: the delivery failed; retried after backoff if it has retries left and <paramref name="noRetry"/> is false.</summary>
    public Task<DeliveryOutcome> FailAsync(FetchedTask task, string message, bool noRetry = false) =>
        SettleAsync(noRetry
            ? [Bytes("FAIL"), Bytes(task.Id), Bytes(Attempt(task)), Bytes(message), Bytes("NORETRY")]
            : [Bytes("FAIL"), Bytes(task.Id), Bytes(Attempt(task)), Bytes(message)]);

    /// <summary><c>NACK id attempt [DELAY ms]</c>: back to its queue (after <paramref name="delay"/>) without counting a failure.</summary>
    public Task<DeliveryOutcome> NackAsync(FetchedTask task, TimeSpan? delay = null) =>
        SettleAsync(delay is { } wait
            ? [Bytes("NACK"), Bytes(task.Id), Bytes(Attempt(task)), Bytes("DELAY"), Bytes(Milliseconds(wait))]
            : [Bytes("NACK"), Bytes(task.Id), Bytes(Attempt(task))]);

    /// <summary><c>TOUCH id attempt [LEASE ms]</c>: renews the lease; <see cref="DeliveryOutcome.Cancelled"/> means stop working on it.</summary>
    public Task<DeliveryOutcome> TouchAsync(FetchedTask task, TimeSpan? lease = null) =>
        SettleAsync(lease is { } leaseTime
            ? [Bytes("TOUCH"), Bytes(task.Id), Bytes(Attempt(task)), Bytes("LEASE"), Bytes(Milliseconds(leaseTime))]
            : [Bytes("TOUCH"), Bytes(task.Id), Bytes(Attempt(task))]);

    private Task<DeliveryOutcome> SettleAsync(ReadOnlyMemory<byte>[] command) => Send(new SingleCall<DeliveryOutcome>(OutcomeReply), 1, new CommandRequest(command));

    /// <summary>
    /// An ACK, FAIL, NACK or TOUCH reply: <c>+OK</c>, <c>-STALE</c> or <c>-CANCELLED</c>, read without allocating.
    /// </summary>
    /// <exception cref="RespErrorException">Any other error (a refused result).</exception>
    internal static DeliveryOutcome ParseOutcome(ReadOnlySpan<byte> reply)
    {
        var reader = new RespSpanReader(reply);
        ReadOnlySpan<byte> line = reader.ReadLine(out byte type);
        if (type != (byte)'-')
            return DeliveryOutcome.Accepted;
        if (line.SequenceEqual("STALE"u8))
            return DeliveryOutcome.Stale;
        if (line.SequenceEqual("CANCELLED"u8))
            return DeliveryOutcome.Cancelled;
        throw new RespErrorException(Encoding.UTF8.GetString(line));
    }

    private static string Attempt(FetchedTask task) => task.Attempt.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string Milliseconds(TimeSpan time) => ((long)time.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static ReadOnlyMemory<byte> Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private readonly struct FetchRequest(IReadOnlyList<string> queues, int count, TimeSpan? block, TimeSpan? lease) : IRequest
    {
        public void Write(IBufferWriter<byte> writer)
        {
            RespRequestEncoder.WriteArrayHeader(writer, 4 + (block is null ? 0 : 2) + (lease is null ? 0 : 2) + queues.Count);
            RespRequestEncoder.WriteBulkString(writer, "FETCH"u8);
            RespRequestEncoder.WriteBulkString(writer, "COUNT"u8);
            RespRequestEncoder.WriteBulkString(writer, count);
            if (block is { } wait)
            {
                RespRequestEncoder.WriteBulkString(writer, "BLOCK"u8);
                RespRequestEncoder.WriteBulkString(writer, (long)wait.TotalMilliseconds);
            }
            if (lease is { } leaseTime)
            {
                RespRequestEncoder.WriteBulkString(writer, "LEASE"u8);
                RespRequestEncoder.WriteBulkString(writer, (long)leaseTime.TotalMilliseconds);
            }
            RespRequestEncoder.WriteBulkString(writer, "FROM"u8);
            foreach (string queue in queues)
                RespRequestEncoder.WriteBulkString(writer, queue);
        }
    }

    private readonly struct AckRequest(FetchedTask task, ReadOnlyMemory<byte> result) : IRequest
    {
        public void Write(IBufferWriter<byte> writer) => RespRequestEncoder.WriteAck(writer, task.Id, task.Attempt, result.Span);
    }

    private readonly struct AckBatchRequest(IReadOnlyList<(FetchedTask Task, ReadOnlyMemory<byte> Result)> deliveries) : IRequest
    {
        public void Write(IBufferWriter<byte> writer)
        {
            for (int i = 0; i < deliveries.Count; i++)
            {
                (FetchedTask task, ReadOnlyMemory<byte> result) = deliveries[i];
                RespRequestEncoder.WriteAck(writer, task.Id, task.Attempt, result.Span);
            }
        }
    }

    private sealed class FetchCall(TaskNames names) : Call<IReadOnlyList<FetchedTask>>
    {
        protected override bool Take(ReadOnlySpan<byte> reply, out IReadOnlyList<FetchedTask> result)
        {
            result = FetchReply.Parse(reply, names);
            return true;
        }
    }

    /// <summary>An ACK's, FAIL's, NACK's or TOUCH's reply as the delivery's outcome.</summary>
    private static readonly ReplyParser<DeliveryOutcome> OutcomeReply = ParseOutcome;
}
