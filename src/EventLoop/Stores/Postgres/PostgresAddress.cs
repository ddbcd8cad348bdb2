using Npgsql;

namespace EventLoop.Stores.Postgres;

/// <summary>Reads <c>--store postgres://user[:password]@host[:port]/database[?setting=value&amp;…]</c> into Npgsql's connection settings.</summary>
internal static class PostgresAddress
{
    public static bool TryParse(string address, out NpgsqlConnectionStringBuilder? settings, out string? error)
    {
        settings = null;
        error = null;
        if (!Uri.TryCreate(address, UriKind.Absolute, out Uri? uri) || uri.Scheme is not ("postgres" or "postgresql"))
        {
            error = $"must be postgres://user@host:port/database, not '{address}'";
            return false;
        }
        string database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        string[] user = uri.UserInfo.Split(':', 2);
        if (database.Length == 0 || user[0].Length == 0 || uri.Host.Length == 0)
        {
            error = $"must name a user, a host and a database (postgres://user@host:port/database), not '{address}'";
            return false;
        }
        var built = new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host,
            Port = uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port,
            Username = Uri.UnescapeDataString(user[0]),
            Database = database,
            // The same few statements run all the time: prepared once per physical connection.
            MaxAutoPrepare = 32,
            ApplicationName = "eventloop",
        };
        if (user.Length == 2)
            built.Password = Uri.UnescapeDataString(user[1]);
        foreach (string pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] parts = pair.Split('=', 2);
            try
            {
                built[Uri.UnescapeDataString(parts[0])] = parts.Length == 2 ? Uri.UnescapeDataString(parts[1]) : "";
            }
            catch (ArgumentException unknown)
            {
                error = $"has an unknown setting '{parts[0]}': {unknown.Message}";
                return false;
            }
        }
        // A queue's statistics are always stale (the backlog comes and goes faster than ANALYZE): with too low an
        // estimate the planner claims by bitmap-scanning and sorting the whole backlog, a cost that grows with the very
        // backlog the claim is there to drain. Without bitmap scans every claim walks its index in order and stops at LIMIT.
        // The statements are prepared and their plans cached (generic plans, planned once: planning each execution cost
        // PostgreSQL a fifth of its time per task). A plan cached while the table had a few pages would otherwise be a
        // sequential scan, hash-joined, kept as the table grows: no sequential scans where an index serves, so every
        // cached plan walks indexes whatever the table's size when it was made. No JIT: a backlog's estimates (and the
        // cost a sequential scan carries when nothing else serves) cross its threshold, and compiling costs ~100 ms a
        // statement where the statement itself takes well under one.
        built.Options = $"-c enable_bitmapscan=off -c enable_seqscan=off -c jit=off {built.Options}".TrimEnd();
        settings = built;
        return true;
    }
}
