using System.Net;
using EventLoop.Protocol;
using EventLoop.Workers;
using Microsoft.Extensions.Logging;

namespace EventLoop;

/// <summary>
/// Every limit and budget of a server, with its default. The CLI's <c>serve --help</c> prints the same
/// defaults from here.
/// </summary>
public sealed record ServerOptions
{
    /// <summary>Address to listen on. Default 127.0.0.1.</summary>
    public string BindAddress { get; init; } = "127.0.0.1";

    /// <summary>TCP port; 0 picks a free one (see <see cref="EventLoopServer.Port"/>). Default 7379.</summary>
    public int Port { get; init; } = 7379;

    /// <summary>listen(2) backlog: connections the kernel queues before the reactor accepts them. Default 4096.</summary>
    public int Backlog { get; init; } = 4096;

    /// <summary>Multiplexer backend: auto, epoll, epoll-et, poll, select or io_uring. Default auto (epoll).</summary>
    public string Backend { get; init; } = "auto";

    /// <summary>Worker threads running tasks. Default: processors − 1, at least 1.</summary>
    public int Workers { get; init; } = Math.Max(1, Environment.ProcessorCount - 1);

    /// <summary>
    /// Whether the reactor runs proven-short synchronous tasks itself instead of handing them to a worker: auto
    /// (default) for runs under 50 µs when the process may use only one CPU and under 5 µs otherwise, yes under
    /// 50 µs whatever the CPUs, no never. See docs/performance.md.
    /// </summary>
    public InlineTaskMode InlineTasks { get; init; } = InlineTaskMode.Auto;

    /// <summary>Capacity of the ring between the reactor and the workers (a power of two). Default 1024.</summary>
    public int RingCapacity { get; init; } = 1024;

    /// <summary>Connections served at once; one more is told so and closed. Default 10000.</summary>
    public int MaxClients { get; init; } = 10_000;

    /// <summary>Requests in flight on one connection before reading from it pauses. Default 1024.</summary>
    public int MaxInflight { get; init; } = 1024;

    /// <summary>Unsent reply bytes a connection may hold; past it the peer is disconnected. Default 64 MiB.</summary>
    public long MaxOutputBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Largest single argument (bulk string) accepted. Default 16 MiB.</summary>
    public int MaxArgBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>Most arguments in one request. Default 1048576.</summary>
    public int MaxArgs { get; init; } = 1024 * 1024;

    /// <summary>Largest incomplete request buffered for one connection. Default 512 MiB.</summary>
    public long MaxRequestBytes { get; init; } = 512L * 1024 * 1024;

    /// <summary>read(2) calls per connection per readiness event, for fairness between connections. Default 4.</summary>
    public int ReadBudget { get; init; } = 4;

    /// <summary>Connections accepted per readiness event of the listening socket. Default 1000.</summary>
    public int AcceptBudget { get; init; } = 1000;

    /// <summary>Close connections idle this long; zero disables. Default 0.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.Zero;

    /// <summary>Close a connection whose request stays incomplete this long (slow-loris defence); zero disables. Default 60 s.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Answer <c>-ERR task 'x' timed out</c> for a task running longer than this, and replace a worker a
    /// synchronous task holds that long; zero disables. Default 0.
    /// </summary>
    public TimeSpan TaskTimeout { get; init; } = TimeSpan.Zero;

    /// <summary>Password clients must give with AUTH before any other command; null: no authentication. Default null.</summary>
    public string? RequirePass { get; init; }

    /// <summary>With <see cref="RequirePass"/> set: most arguments in a request before AUTH; more is a protocol error. Default 10 (Redis's).</summary>
    public int MaxUnauthenticatedArgs { get; init; } = 10;

    /// <summary>
    /// With <see cref="RequirePass"/> set: largest argument, and longest inline request, before AUTH; more is a
    /// protocol error, so a peer without the password cannot make the server buffer more. Default 16 KiB (Redis's).
    /// </summary>
    public int MaxUnauthenticatedBulkBytes { get; init; } = 16 * 1024;

    /// <summary>
    /// Budget for the memory all clients hold together (buffered input, unsent output, queued requests); past it
    /// the clients holding the most are closed first. 0: no limit. Default: a quarter of the memory available
    /// to the process (physical memory or the container's limit), at most 1 GiB.
    /// </summary>
    public long MaxMemoryClients { get; init; } = DefaultMaxMemoryClients();

    /// <summary>Refuse to start on a non-loopback address without <see cref="RequirePass"/>. Default true.</summary>
    public bool ProtectedMode { get; init; } = true;

    /// <summary>
    /// Port of the HTTP endpoint (dashboard at <c>/</c>, <c>/metrics</c> for Prometheus, <c>/api/snapshot</c>),
    /// served by Kestrel on its own threads; 0: off. Default 0.
    /// </summary>
    public int HttpPort { get; init; }

    /// <summary>Address the HTTP endpoint listens on; protected mode and <see cref="RequirePass"/> apply as to the RESP port. Default 127.0.0.1.</summary>
    public string HttpBindAddress { get; init; } = "127.0.0.1";

    /// <summary>How long a graceful stop waits for accepted tasks and their replies. Default 10 s.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Register echo, sleep, sha256, spin and fail. Default true.</summary>
    public bool BuiltInTasks { get; init; } = true;

    /// <summary>Tasks the queue keeps (waiting, running and finished ones whose results have not expired); past it SUBMIT answers <c>-FULL</c>. Default 1000000.</summary>
    public int MaxTasks { get; init; } = 1_000_000;

    /// <summary>Largest task result kept; a larger one fails the attempt. Default 16 MiB.</summary>
    public int MaxResultBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>Distinct queue names; past it SUBMIT to a new queue answers <c>-FULL</c>. Default 1024.</summary>
    public int MaxQueues { get; init; } = 1024;

    /// <summary>Periodic schedules kept; past it SCHEDULE ADD answers <c>-FULL</c>. Default 10000.</summary>
    public int MaxSchedules { get; init; } = 10_000;

    /// <summary>How long a failed task stays in the dead set before it is dropped. Default 7 days.</summary>
    public TimeSpan DeadTaskTtl { get; init; } = TimeSpan.FromDays(7);

    /// <summary>Leases of one task lost in a row (expired, or the worker's connection closed) before it fails. Default 5.</summary>
    public int MaxLeaseLosses { get; init; } = 5;

    /// <summary>
    /// With <see cref="Store"/> on PostgreSQL: how often a node asks again about the tasks its parked RESULTs and WAITs
    /// wait for, in case a NOTIFY was lost with a connection. Tests stretch it, so that a wake-up the node itself
    /// should have made shows as a wait that never ends rather than one that lasts a second.
    /// </summary>
    internal TimeSpan StoreSafetyPoll { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Keep an append-only journal of the task queue in <see cref="Dir"/> and replay it at start. Default false.</summary>
    public bool AppendOnly { get; init; }

    /// <summary>Directory of the journal (<c>eventloop.journal</c>). Default <c>./data</c>.</summary>
    public string Dir { get; init; } = "./data";

    /// <summary>When the journal is fsync'd: after every batch, about once a second (default), or never.</summary>
    public Journal.FsyncPolicy AppendFsync { get; init; } = Journal.FsyncPolicy.EverySecond;

    /// <summary>While replies wait for the journal's fsync, an idle reactor polls (yielding its CPU) instead of sleeping, for up to 1 ms: on one CPU only (auto, default), always (poll) or never (sleep).</summary>
    public Reactor.JournalWaitMode JournalWait { get; init; } = Reactor.JournalWaitMode.Auto;

    /// <summary>Start even when the journal is damaged before its end, skipping the damaged bytes. Default false.</summary>
    public bool JournalRepair { get; init; }

    /// <summary>Rewrite the journal once it has grown by this percentage over its size after the last rewrite (0: never by itself). Default 100.</summary>
    public int JournalRewritePercentage { get; init; } = 100;

    /// <summary>No automatic rewrite below this journal size. Default 64 MiB.</summary>
    public long JournalRewriteMinSize { get; init; } = 64L * 1024 * 1024;

    /// <summary>
    /// Where the task queue lives: null (default) keeps it in this process (with the journal when <see cref="AppendOnly"/>);
    /// <c>postgres://user@host:port/database</c> keeps it in PostgreSQL, shared by every node pointing at the same
    /// database (docs/scaling.md). Extra connection settings go in the query string (<c>?password=…</c>).
    /// </summary>
    public string? Store { get; init; }

    /// <summary>
    /// Where the server logs, by category (<c>EventLoop.Server</c>, <c>EventLoop.Reactor</c>); null: one line per
    /// message on standard error, Information and above. Lines that a flood could cause (refused connections,
    /// EMFILE) are rate-limited by the reactor whatever the logger. Default null.
    /// </summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    internal ProtocolLimits ProtocolLimits => new()
    {
        MaxArgBytes = MaxArgBytes,
        MaxArgs = MaxArgs,
        MaxUnauthenticatedArgs = MaxUnauthenticatedArgs,
        MaxUnauthenticatedBulkBytes = MaxUnauthenticatedBulkBytes,
    };

    internal IPEndPoint EndPoint => new(IPAddress.Parse(BindAddress), Port);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first option out of range.</summary>
    public void Validate()
    {
        if (!IPAddress.TryParse(BindAddress, out _)) Fail(nameof(BindAddress), $"'{BindAddress}' is not an IP address");
        if (Port is < 0 or > 65535) Fail(nameof(Port), "must be 0..65535");
        if (Backlog < 1) Fail(nameof(Backlog), "must be at least 1");
        if (Workers < 1) Fail(nameof(Workers), "must be at least 1");
        if (RingCapacity < 2 || (RingCapacity & (RingCapacity - 1)) != 0) Fail(nameof(RingCapacity), "must be a power of two, at least 2");
        if (MaxClients < 1) Fail(nameof(MaxClients), "must be at least 1");
        if (MaxInflight < 1) Fail(nameof(MaxInflight), "must be at least 1");
        if (MaxOutputBytes < 1024) Fail(nameof(MaxOutputBytes), "must be at least 1024");
        if (MaxArgBytes < 1) Fail(nameof(MaxArgBytes), "must be at least 1");
        if (MaxArgs < 1) Fail(nameof(MaxArgs), "must be at least 1");
        if (MaxRequestBytes < 1024) Fail(nameof(MaxRequestBytes), "must be at least 1024");
        if (ReadBudget < 1) Fail(nameof(ReadBudget), "must be at least 1");
        if (AcceptBudget < 1) Fail(nameof(AcceptBudget), "must be at least 1");
        if (IdleTimeout < TimeSpan.Zero) Fail(nameof(IdleTimeout), "must not be negative");
        if (ShutdownTimeout < TimeSpan.Zero) Fail(nameof(ShutdownTimeout), "must not be negative");
        if (RequestTimeout < TimeSpan.Zero) Fail(nameof(RequestTimeout), "must not be negative");
        if (TaskTimeout < TimeSpan.Zero) Fail(nameof(TaskTimeout), "must not be negative");
        if (MaxTasks < 1) Fail(nameof(MaxTasks), "must be at least 1");
        if (MaxResultBytes < 1) Fail(nameof(MaxResultBytes), "must be at least 1");
        if (MaxQueues < 1) Fail(nameof(MaxQueues), "must be at least 1");
        if (MaxSchedules < 0) Fail(nameof(MaxSchedules), "must not be negative");
        if (DeadTaskTtl <= TimeSpan.Zero) Fail(nameof(DeadTaskTtl), "must be positive");
        if (MaxLeaseLosses < 1) Fail(nameof(MaxLeaseLosses), "must be at least 1");
        if (AppendOnly && string.IsNullOrWhiteSpace(Dir)) Fail(nameof(Dir), "must name a directory");
        if (Store is not null && Stores.QueueStores.Check(Store) is { } storeError) Fail(nameof(Store), storeError);
        if (Store is not null && AppendOnly) Fail(nameof(Store), "cannot be combined with AppendOnly: PostgreSQL keeps the queue durable itself");
        if (JournalRewritePercentage < 0) Fail(nameof(JournalRewritePercentage), "must not be negative");
        if (JournalRewriteMinSize < 0) Fail(nameof(JournalRewriteMinSize), "must not be negative");
        if (MaxUnauthenticatedArgs < 1) Fail(nameof(MaxUnauthenticatedArgs), "must be at least 1");
        if (MaxUnauthenticatedBulkBytes < 1) Fail(nameof(MaxUnauthenticatedBulkBytes), "must be at least 1");
        if (MaxMemoryClients < 0) Fail(nameof(MaxMemoryClients), "must not be negative (0: no limit)");
        if (HttpPort is < 0 or > 65535) Fail(nameof(HttpPort), "must be 0..65535 (0: no HTTP endpoint)");
        if (!IPAddress.TryParse(HttpBindAddress, out _)) Fail(nameof(HttpBindAddress), $"'{HttpBindAddress}' is not an IP address");
        if (RequirePass is { Length: 0 }) Fail(nameof(RequirePass), "must not be empty (leave it unset for no authentication)");
        if (ProtectedMode && RequirePass is null && !IPAddress.IsLoopback(IPAddress.Parse(BindAddress)))
            Fail(nameof(ProtectedMode), $"refuses to serve {BindAddress} without a password: anyone who can reach it could run tasks. " +
                 "Set --requirepass, bind to 127.0.0.1, or pass --protected-mode no if the network is trusted");
        if (HttpPort != 0 && ProtectedMode && RequirePass is null && !IPAddress.IsLoopback(IPAddress.Parse(HttpBindAddress)))
            Fail(nameof(ProtectedMode), $"refuses to serve HTTP on {HttpBindAddress} without a password: anyone who can reach it could retry and drop tasks. " +
                 "Set --requirepass, use --http-bind 127.0.0.1, or pass --protected-mode no if the network is trusted");
    }

    // A budget a default install can afford: one full-size request (max-request-bytes) still fits on a large
    // machine, and on a small one or in a tight container clients cannot take more than a quarter of memory.
    private static long DefaultMaxMemoryClients() =>
        Math.Min(1L << 30, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4);

    private static void Fail(string option, string reason) => throw new ArgumentException($"{option} {reason}");
}
