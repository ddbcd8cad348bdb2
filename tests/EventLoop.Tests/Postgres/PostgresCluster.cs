using System.Net;
using System.Net.Sockets;
using EventLoop.Tests.Support;
using Npgsql;

namespace EventLoop.Tests.Postgres;

/// <summary>
/// A throwaway PostgreSQL cluster for one test collection: <c>initdb</c> in a temporary directory (as the
/// <c>postgres</c> user, since initdb refuses root), a free loopback port, the socket directory inside the temporary
/// directory, <c>pg_ctl start -w</c>; stopped and removed on dispose. No running server is assumed: build.sh test
/// installs Debian's postgresql when initdb is missing, and without it these tests fail naming what is missing.
/// </summary>
public sealed class PostgresCluster : IDisposable
{
    private readonly string _root;
    private readonly string _data;
    private readonly string _bin;
    private int _databases;

    public PostgresCluster()
    {
        _bin = Binaries();
        _root = Directory.CreateTempSubdirectory("eventloop-pg-").FullName;
        _data = Path.Combine(_root, "data");
        Directory.CreateDirectory(Path.Combine(_root, "socket"));
        Run("chown", ["-R", "postgres:postgres", _root]);
        Port = FreePort();
        AsPostgres("initdb", ["-D", _data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
        Start();
    }

    public int Port { get; }

    /// <summary>The store address of a new, empty database of this cluster: a fresh one per test where isolation matters.</summary>
    public string NewDatabase()
    {
        string name = $"t{Interlocked.Increment(ref _databases)}";
        using var connection = new NpgsqlConnection($"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Pooling=false");
        connection.Open();
        using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
        create.ExecuteNonQuery();
        return Address(name);
    }

    public string Address(string database) => $"postgres://postgres@127.0.0.1:{Port}/{database}";

    /// <summary>A connection of its own to the database a store address (<see cref="NewDatabase"/>) names, to look under the store.</summary>
    public NpgsqlConnection Open(string address)
    {
        var connection = new NpgsqlConnection($"Host=127.0.0.1;Port={Port};Username=postgres;Database={new Uri(address).AbsolutePath.TrimStart('/')};Pooling=false");
        connection.Open();
        return connection;
    }

    /// <summary>Runs one SQL text on the database <paramref name="address"/> names; returns the first column of the first row.</summary>
    public object? Execute(string address, string sql)
    {
        using NpgsqlConnection connection = Open(address);
        using var command = new NpgsqlCommand(sql, connection);
        return command.ExecuteScalar();
    }

    /// <summary>Starts the cluster (again), waiting until it accepts connections.</summary>
    public void Start() =>
        AsPostgres("pg_ctl", ["-D", _data, "-l", Path.Combine(_root, "server.log"), "-w", "-t", "60", "start",
            "-o", $"-p {Port} -k {Path.Combine(_root, "socket")} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"]);

    /// <summary>Stops the cluster at once (what a crashed database looks like to the nodes).</summary>
    public void Stop() => AsPostgres("pg_ctl", ["-D", _data, "-m", "immediate", "-w", "stop"]);

    public void Dispose()
    {
        try
        {
            Stop();
        }
        finally
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    /// <summary>The newest installed major version's binaries (Debian keeps them out of PATH).</summary>
    private static string Binaries()
    {
        string? bin = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(v => Path.Combine(v, "bin"))
                .Where(b => File.Exists(Path.Combine(b, "initdb"))).OrderByDescending(b => int.TryParse(Path.GetFileName(Path.GetDirectoryName(b)), out int v) ? v : 0).FirstOrDefault()
            : null;
        return bin ?? throw new InvalidOperationException("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): ./build.sh test installs Debian's postgresql");
    }

    private void AsPostgres(string program, string[] arguments) =>
        Run("runuser", ["-u", "postgres", "--", Path.Combine(_bin, program), .. arguments]);

    private static void Run(string program, string[] arguments)
    {
        ExternalProcess.Result result = ExternalProcess.Run(program, arguments, timeoutMs: 120_000);
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({result.ExitCode}): {result.Error}{result.Output}");
    }

    private static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}

/// <summary>The tests that share one <see cref="PostgresCluster"/>.</summary>
[CollectionDefinition(nameof(PostgresCollection))]
public sealed class PostgresCollection : ICollectionFixture<PostgresCluster>;
