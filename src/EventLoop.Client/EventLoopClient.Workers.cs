using System.Text;

namespace EventLoop.Client;

/// <summary>One task leased by <see cref="EventLoopClient.FetchAsync"/>: settle it with the same id and attempt.</summary>
/// <param name="Id">The task's id.</param>
/// <param name="Attempt">The delivery number; the fence every ACK, FAIL, NACK and TOUCH about it quotes.</param>
/// <param name="Task">The task's name.</param>
/// <param name="Arguments">Its arguments as submitted.</param>
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
    /// <summary>
    /// <c>FETCH [COUNT n] [BLOCK ms] [LEASE ms] FROM queues…</c>: leases up to <paramref name="count"/> tasks to this
    /// connection, highest priority first. With <paramref name="block"/> the call waits (parked on the server) until one
    /// arrives or the time is up; an empty list then. Replies on this connection wait behind a blocked FETCH, so keep
    /// settling on another connection.
    /// </summary>
    /// <exception cref="RespErrorException">The server refused the request.</exception>
    public async Task<IReadOnlyList<FetchedTask>> FetchAsync(IReadOnlyList<string> queues, int count = 1, TimeSpan? block = null,
        TimeSpan? lease = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(queues.Count, 1, nameof(queues));
        List<string> command = ["FETCH", "COUNT", count.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        if (block is { } wait)
            command.AddRange(["BLOCK", Milliseconds(wait)]);
        if (lease is { } leaseTime)
            command.AddRange(["LEASE", Milliseconds(leaseTime)]);
        command.Add("FROM");
        command.AddRange(queues);
        RespValue reply = await ExecuteAsync(AsUtf8(command), cancellationToken).ConfigureAwait(false);
        if (reply.IsError)
            throw new RespErrorException(reply.Text ?? "");
        var tasks = new List<FetchedTask>(reply.Elements.Count);
        foreach (RespValue entry in reply.Elements)
        {
            IReadOnlyList<RespValue> fields = entry.Elements;
            tasks.Add(new FetchedTask(fields[0].Text ?? "", fields[1].IntegerValue, fields[2].Text ?? "",
                [.. fields[3].Elements.Select(argument => argument.Bytes)]));
        }
        return tasks;
    }

    /// <summary><c>ACK id attempt result</c>: the delivery succeeded with <paramref name="result"/>.</summary>
    /// <exception cref="RespErrorException">The result was refused (over the server's max-result-bytes: the attempt failed).</exception>
    public Task<DeliveryOutcome> AckAsync(FetchedTask task, ReadOnlyMemory<byte> result) =>
        SettleAsync([Bytes("ACK"), Bytes(task.Id), Bytes(Attempt(task)), result]);

    /// <summary>ACKs a batch of deliveries in one write (one reply task for all): how a worker settles what one FETCH gave it.</summary>
    /// <exception cref="RespErrorException">A result was refused (over the server's max-result-bytes: that attempt failed).</exception>
    public async Task<DeliveryOutcome[]> AckManyAsync(IReadOnlyList<(FetchedTask Task, ReadOnlyMemory<byte> Result)> deliveries)
    {
        ReadOnlyMemory<byte>[][] commands = [.. deliveries.Select(d => new[] { Bytes("ACK"), Bytes(d.Task.Id), Bytes(Attempt(d.Task)), d.Result })];
        RespValue[] replies = await ExecuteBatchAsync(commands).ConfigureAwait(false);
        return [.. replies.Select(Outcome)];
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

    private async Task<DeliveryOutcome> SettleAsync(ReadOnlyMemory<byte>[] command)
    {
        RespValue reply = await ExecuteAsync(command, CancellationToken.None).ConfigureAwait(false);
        return Outcome(reply);
    }

    private static DeliveryOutcome Outcome(RespValue reply) => !reply.IsError ? DeliveryOutcome.Accepted : reply.Text switch
    {
        "STALE" => DeliveryOutcome.Stale,
        "CANCELLED" => DeliveryOutcome.Cancelled,
        _ => throw new RespErrorException(reply.Text ?? ""),
    };

    private static string Attempt(FetchedTask task) => task.Attempt.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string Milliseconds(TimeSpan time) => ((long)time.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static ReadOnlyMemory<byte> Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static ReadOnlyMemory<byte>[] AsUtf8(List<string> words) => [.. words.Select(Bytes)];
}
