using Npgsql;

namespace EventLoop.Stores.Postgres;

/// <summary>
/// Runs of consecutive requests of one kind become one multi-row statement: a burst of SUBMITs one INSERT, a burst of
/// ACKs (a pipelining worker's, or this node's in-process runs finishing together) one UPDATE. Only consecutive ones, so
/// a request between two runs keeps its place in the order. Reactor, when a batch is handed over.
/// </summary>
internal static class MultiRowStatements
{
    private enum Kind { Alone, Submit, Ack, Find }

    public static List<StoreRequest> Combine(List<StoreRequest> pending)
    {
        var combined = new List<StoreRequest>(pending.Count);
        var run = new List<StoreRequest>();
        var acked = new HashSet<long>();
        Kind running = Kind.Alone;
        foreach (StoreRequest request in pending)
        {
            Kind kind = KindOf(request);
            // The same delivery acknowledged twice in one run: the second must see the first's change (-STALE).
            bool repeated = kind == Kind.Ack && !acked.Add(((SettleRequest)request).Id);
            if (kind != running || kind == Kind.Alone || repeated)
            {
                End(combined, run, running);
                running = kind;
                acked.Clear();
                if (kind == Kind.Ack)
                    acked.Add(((SettleRequest)request).Id);
            }
            run.Add(request);
        }
        End(combined, run, running);
        return combined;
    }

    private static Kind KindOf(StoreRequest request) => request switch
    {
        SubmitRequest => Kind.Submit,
        SettleRequest { IsAck: true } => Kind.Ack,
        FindRequest => Kind.Find,
        _ => Kind.Alone,
    };

    private static void End(List<StoreRequest> into, List<StoreRequest> run, Kind kind)
    {
        if (run.Count == 1 || kind == Kind.Alone)
            into.AddRange(run);
        else if (run.Count > 1)
            into.Add(kind switch
            {
                Kind.Submit => new SubmitBatch([.. run.Cast<SubmitRequest>()]),
                Kind.Ack => new AckBatch([.. run.Cast<SettleRequest>()]),
                _ => new FindBatch([.. run.Cast<FindRequest>()]),
            });
        run.Clear();
    }
}

/// <summary>One statement for a run of requests: each member completes in order, with the statement's failure if it failed.</summary>
internal abstract class MultiRowRequest<T>(List<T> members) : StoreRequest where T : StoreRequest
{
    protected List<T> Members { get; } = members;

    public sealed override void PlaceAt(long order)
    {
        foreach (T member in Members)
            member.Order = order;
    }

    public sealed override void Complete()
    {
        foreach (T member in Members)
        {
            if (member.Failure is null && Failure is not null)
                (member.Failure, member.FailureLasts) = (Failure, FailureLasts);
            member.InFlight = false;
            member.Complete();
        }
    }
}

/// <summary>
/// Consecutive SUBMITs of one batch as one multi-row statement (<see cref="PostgresSchema.SubmitMany"/>): one statement
/// for a burst instead of one per task. Only consecutive ones: a request between them keeps its place in the order.
/// </summary>
internal sealed class SubmitBatch(List<SubmitRequest> submits) : MultiRowRequest<SubmitRequest>(submits)
{
    public override void AddTo(NpgsqlBatch batch)
    {
        var columns = new object?[12]; // Submit's first twelve parameters, as arrays
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
        bool[] claim = MayClaim([.. Members.Select(s => s.ClaimHere)], [.. Members.Select(s => s.ReadyHere)]);
        SubmitRequest first = Members[0];
        batch.BatchCommands.Add(Command(PostgresSchema.SubmitMany, [.. columns, claim, first.Node, InProcessRuns.LeaseMs, first.Names, (long)first.Values[3]!]));
    }

    /// <summary>
    /// Which rows the statement may store claimed: those with room reserved, up to the first row due for a handler here
    /// that has none. That row is stored ready and is ahead of every later one, which the statement's one look for
    /// tasks ahead cannot see (it sees the table as it was before the statement).
    /// </summary>
    public static bool[] MayClaim(bool[] claimHere, bool[] readyHere)
    {
        var may = new bool[claimHere.Length];
        for (int i = 0; i < claimHere.Length && (claimHere[i] || !readyHere[i]); i++)
            may[i] = claimHere[i];
        return may;
    }

    private T[] Column<T>(int index) => [.. Members.Select(s => (T)s.Values[index]!)];

    public override void Read(NpgsqlDataReader reader)
    {
        int row = 0;
        while (reader.Read())
            Members[row++].Answered(reader.IsDBNull(1) ? null : reader.GetInt64(1), reader.GetBoolean(2));
    }
}

/// <summary>Consecutive ACKs of one batch as one statement (<see cref="PostgresSchema.AckMany"/>); each answers as it would alone.</summary>
internal sealed class AckBatch(List<SettleRequest> acks) : MultiRowRequest<SettleRequest>(acks)
{
    public override void AddTo(NpgsqlBatch batch)
    {
        var ids = new long[Members.Count];
        var attempts = new int[Members.Count];
        var results = new byte[Members.Count][];
        for (int i = 0; i < Members.Count; i++)
        {
            object?[] values = Members[i].Values;
            (ids[i], attempts[i], results[i]) = ((long)values[0]!, (int)values[1]!, (byte[])values[3]!);
        }
        // One time for the run: the ACKs came in within one loop iteration.
        batch.BatchCommands.Add(Command(PostgresSchema.AckMany, ids, attempts, results, (long)Members[0].Values[2]!));
    }

    public override void Read(NpgsqlDataReader reader)
    {
        foreach (SettleRequest ack in Members)
            ack.ReadRow(reader);
    }
}

/// <summary>Consecutive STATUS and RESULT reads of one batch as one statement (<see cref="PostgresSchema.FindMany"/>).</summary>
internal sealed class FindBatch(List<FindRequest> finds) : MultiRowRequest<FindRequest>(finds)
{
    public override void AddTo(NpgsqlBatch batch) =>
        batch.BatchCommands.Add(Command(PostgresSchema.FindMany, Members.Select(f => f.Id).ToArray(), Members[0].Now));

    public override void Read(NpgsqlDataReader reader)
    {
        foreach (FindRequest find in Members)
            find.ReadRow(reader);
    }
}
