using Npgsql;
using NpgsqlTypes;

namespace EventLoop.Stores.Postgres;

/// <summary>
/// One statement for the store thread and what becomes of its answer. Built on the reactor, executed on the store
/// thread (<see cref="AddTo"/>, <see cref="Read"/>: only the request's own fields), then handed back to the reactor
/// (<see cref="Complete"/>). Ownership moves with the batch that carries it; nothing is shared meanwhile.
/// </summary>
internal abstract class StoreRequest
{
    /// <summary>Set on the store thread when the statement failed (the database is unreachable, a constraint…).</summary>
    public string? Failure;

    /// <summary>Set with <see cref="Failure"/> when PostgreSQL refused the statement itself, for a reason a retry does not change.</summary>
    public bool FailureLasts;

    /// <summary>Reactor: handed to the store thread and not back yet; a parked request is never in two batches at once.</summary>
    public bool InFlight;

    /// <summary>Reactor: asked to run again while in flight (a NOTIFY came meanwhile).</summary>
    public bool Again;

    /// <summary>
    /// Reactor: the request's place in the order the store thread runs statements (one connection, in order), set when
    /// handed over; <see cref="long.MaxValue"/> while it waits for the next batch. A claim later in that order sees
    /// every change made earlier in it.
    /// </summary>
    public long Order = long.MaxValue;

    /// <summary>Reactor: sets <see cref="Order"/> (a request of the runs connection gets the main one's, when its answer is in).</summary>
    public virtual void PlaceAt(long order) => Order = order;

    /// <summary>Reactor, when handed over: the time its statement uses.</summary>
    public virtual void Prepare(long now)
    {
    }

    /// <summary>Store thread: the request's one statement.</summary>
    public abstract void AddTo(NpgsqlBatch batch);

    /// <summary>Store thread: reads the statement's result set (positioned on it).</summary>
    public abstract void Read(NpgsqlDataReader reader);

    /// <summary>Reactor: the answer (or <see cref="Failure"/>) is in.</summary>
    public abstract void Complete();

    /// <summary>One statement with its parameters (<see cref="Parameter"/>): a request's, or the overview's batch.</summary>
    internal static NpgsqlBatchCommand Command(string sql, params object?[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (object? value in values)
            command.Parameters.Add(Parameter(value));
        return command;
    }

    /// <summary>A statement's parameter: null, name arrays and blob arrays typed explicitly, the rest inferred by Npgsql.</summary>
    internal static NpgsqlParameter Parameter(object? value) => value switch
    {
        null => new NpgsqlParameter { Value = DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text },
        string?[] names => new NpgsqlParameter { Value = names, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text },
        byte[][] blobs => new NpgsqlParameter { Value = blobs, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea },
        _ => new NpgsqlParameter { Value = value },
    };
}
