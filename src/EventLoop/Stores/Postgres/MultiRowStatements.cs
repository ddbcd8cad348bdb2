using Npgsql;

namespace EventLoop.Stores.Postgres;

/// <summary>
/// Runs of consecutive requests of one kind become one multi-row statement: a burst of SUBMITs one INSERT, a burst of
/// ACKs (a pipelining worker's, or this node's in-process runs finishing together) one UPDATE. Only consecutive ones, so
/// a request between two runs keeps its place in the order. Reactor, when a batch is handed over.
/// </summary>
internal static class MultiRowStatements
{
    public static List<StoreRequest> Combine(List<StoreRequest> pending)
    {
        var combined = new List<StoreRequest>(pending.Count);
        List<SubmitRequest>? submits = null;
        List<SettleRequest>? acks = null;
        HashSet<long>? acked = null;
        foreach (StoreRequest request in pending)
        {
            if (request is SubmitRequest submit)
            {
                EndAcks(combined, ref acks, acked);
                (submits ??= []).Add(submit);
                continue;
            }
            EndSubmits(combined, ref submits);
            if (request is SettleRequest { IsAck: true } ack)
            {
                // The same delivery acknowledged twice in one run: the second must see the first's change (-STALE).
                acked ??= [];
                if (!acked.Add(ack.Id))
                {
                    EndAcks(combined, ref acks, acked);
                    acked.Add(ack.Id);
                }
                (acks ??= []).Add(ack);
                continue;
            }
            EndAcks(combined, ref acks, acked);
            combined.Add(request);
        }
        EndSubmits(combined, ref submits);
        EndAcks(combined, ref acks, acked);
        return combined;
    }

    private static void EndSubmits(List<StoreRequest> into, ref List<SubmitRequest>? run)
    {
        if (run is null)
            return;
        into.Add(run.Count == 1 ? run[0] : new SubmitBatch(run));
        run = null;
    }

    private static void EndAcks(List<StoreRequest> into, ref List<SettleRequest>? run, HashSet<long>? ids)
    {
        ids?.Clear();
        if (run is null)
            return;
        into.Add(run.Count == 1 ? run[0] : new AckBatch(run));
        run = null;
    }
}

/// <summary>
/// Consecutive SUBMITs of one batch as one multi-row statement (<see cref="PostgresSchema.SubmitMany"/>): one statement
/// for a burst instead of one per task. Only consecutive ones: a request between them keeps its place in the order.
/// </summary>
internal sealed class SubmitBatch(List<SubmitRequest> submits) : StoreRequest
{
    public override void AddTo(NpgsqlBatch batch)
    {
        var columns = new object?[12];
        columns[0] = Column<string>(0);
        columns[1] = Column<string>(1);
        columns[2] = Column<bool>(2);
        columns[3] = Column<long>(3);
        columns[4] = Column<long>(4);
        columns[5] = Column<short>(5);
        columns[6] = Column<int>(6);
        columns[7] = Column<int>(7);
        columns[8] = Column<int>(8);
        columns[9] = Column<int>(9);
        columns[10] = Column<string?>(10);
        columns[11] = Column<byte[]>(11);
        batch.BatchCommands.Add(Command(PostgresSchema.SubmitMany, columns));
    }

    private T[] Column<T>(int index) => [.. submits.Select(s => (T)s.Values[index]!)];

    public override void Read(NpgsqlDataReader reader)
    {
        int row = 0;
        while (reader.Read())
            submits[row++].Answered(reader.IsDBNull(1) ? null : reader.GetInt64(1));
    }

    public override void Complete()
    {
        foreach (SubmitRequest submit in submits)
        {
            submit.Failure ??= Failure;
            submit.InFlight = false;
            submit.Complete();
        }
    }
}

/// <summary>Consecutive ACKs of one batch as one statement (<see cref="PostgresSchema.AckMany"/>); each answers as it would alone.</summary>
internal sealed class AckBatch(List<SettleRequest> acks) : StoreRequest
{
    public override void AddTo(NpgsqlBatch batch)
    {
        var ids = new long[acks.Count];
        var attempts = new int[acks.Count];
        var results = new byte[acks.Count][];
        for (int i = 0; i < acks.Count; i++)
        {
            object?[] values = acks[i].Values;
            (ids[i], attempts[i], results[i]) = ((long)values[0]!, (int)values[1]!, (byte[])values[3]!);
        }
        // One time for the run: the ACKs came in within one loop iteration.
        batch.BatchCommands.Add(Command(PostgresSchema.AckMany, ids, attempts, results, (long)acks[0].Values[2]!));
    }

    public override void Read(NpgsqlDataReader reader)
    {
        foreach (SettleRequest ack in acks)
            ack.ReadRow(reader);
    }

    public override void Complete()
    {
        foreach (SettleRequest ack in acks)
        {
            ack.Failure ??= Failure;
            ack.InFlight = false;
            ack.Complete();
        }
    }
}
