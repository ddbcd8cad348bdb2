using System.Net;
using EventLoop.Diagnostics;
using EventLoop.Http;
using EventLoop.Multiplexing;
using EventLoop.Queueing;
using EventLoop.Reactor;
using EventLoop.Tasks;
using Microsoft.Extensions.Logging;

namespace EventLoop;

/// <summary>
/// An EventLoop server: register tasks, <see cref="Start"/>, and clients reach them with
/// <c>RUN name args…</c> over RESP2. One reactor thread serves every connection; tasks run on workers.
/// </summary>
/// <example>
/// <code>
/// await using var server = new EventLoopServer(new ServerOptions { Port = 7379 });
/// server.Tasks.Register("greet", (args, result) => result.Write(Encoding.UTF8.GetBytes($"hello {args.GetString(0)}")));
/// server.Start();
/// await server.Completion; // until StopAsync, or SIGTERM handled by the host
/// </code>
/// </example>
public sealed class EventLoopServer : IAsyncDisposable
{
    private readonly object _lifecycle = new();
    private readonly ILoggerFactory _logging;
    private readonly ILogger _log;
    private readonly ILogger _reactorLog;
    private ReactorLoop? _reactor;
    private ServerMetrics? _metrics;
    private SnapshotPublisher? _snapshots;
    private HttpHost? _http;
    private Task? _stopped;

    /// <summary>Creates a server (not yet listening) with <paramref name="options"/> or the defaults.</summary>
    public EventLoopServer(ServerOptions? options = null)
    {
        Options = options ?? new ServerOptions();
        Options.Validate();
        Queue = new ServerQueue(() => Reactor);
        ILoggerFactory logging = Options.LoggerFactory ?? StandardErrorLoggerFactory.Instance;
        _logging = logging;
        _log = logging.CreateLogger("EventLoop.Server");
        _reactorLog = logging.CreateLogger("EventLoop.Reactor");
        if (Options.BuiltInTasks)
            Tasks.AddBuiltInTasks();
    }

    /// <summary>The options the server runs with.</summary>
    public ServerOptions Options { get; }

    /// <summary>The tasks clients can run; register before <see cref="Start"/>.</summary>
    public TaskRegistry Tasks { get; } = new();

    /// <summary>The task queue, from this process: submit, await and cancel tasks without a socket. Usable after <see cref="Start"/>.</summary>
    public ServerQueue Queue { get; }

    /// <summary>The port the server listens on (useful with <c>Port = 0</c>); valid after <see cref="Start"/>.</summary>
    public int Port => Reactor.Port;

    /// <summary>The address and port the server listens on; valid after <see cref="Start"/>.</summary>
    public IPEndPoint EndPoint => new(IPAddress.Parse(Options.BindAddress), Port);

    /// <summary>The port of the HTTP endpoint (dashboard, /metrics), or 0 when <see cref="ServerOptions.HttpPort"/> is 0; valid after <see cref="Start"/>.</summary>
    public int HttpPort => _http?.Port ?? 0;

    /// <summary>The multiplexer backend in use (epoll, poll, …); valid after <see cref="Start"/>.</summary>
    public string Backend => Reactor.BackendName;

    /// <summary>Completes when the server has stopped; faults if the reactor failed.</summary>
    public Task Completion => Reactor.Completion;

    private ReactorLoop Reactor => _reactor ?? throw new InvalidOperationException("the server has not been started");

    /// <summary>Binds the listening socket and starts the reactor and the workers.</summary>
    /// <exception cref="System.Net.Sockets.SocketException">The address cannot be bound.</exception>
    /// <exception cref="MultiplexerException">The chosen backend is not available here.</exception>
    public void Start()
    {
        lock (_lifecycle)
        {
            if (_reactor is not null)
                throw new InvalidOperationException("the server is already started");
            Tasks.Freeze();
            if (Options.LoggerFactory is null)
                _ = Console.Error; // opened now: at the descriptor limit, opening it later would fail
            IMultiplexer multiplexer = MultiplexerFactory.Create(Options.Backend);
            try
            {
                _reactor = new ReactorLoop(Options, Tasks, multiplexer, LogFromReactor);
            }
            catch
            {
                multiplexer.Dispose();
                throw;
            }
            if (Options.HttpPort != 0)
            {
                _snapshots = new SnapshotPublisher(_reactor, _reactor.QueueStore);
                _reactor.HousekeepingHook = _snapshots.OnHousekeeping;
            }
            _metrics = new ServerMetrics(_reactor, () => _snapshots?.Current);
            _reactor.Start();
            _log.LogInformation("listening on {EndPoint} (backend {Backend}, {Workers} worker(s))", EndPoint, Backend, Options.Workers);
            if (_snapshots is not null)
                StartHttp(_reactor, _snapshots, _metrics);
        }
    }

    // Its own method: Kestrel's assemblies load only when the HTTP endpoint is on.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void StartHttp(ReactorLoop reactor, SnapshotPublisher snapshots, ServerMetrics metrics)
    {
        try
        {
            _http = HttpHost.Start(Options, snapshots, new ReactorCommands(reactor, reactor.QueueStore), metrics.Meter, _logging);
        }
        catch
        {
            reactor.RequestStop(); // the HTTP port cannot be bound: stop as if the RESP port could not be
            throw;
        }
        _log.LogInformation("dashboard and /metrics on http://{Address}:{Port}/", Options.HttpBindAddress, _http.Port);
    }

    /// <summary>
    /// Stops gracefully: no new connections or requests; tasks already accepted finish and their replies
    /// are sent (up to <see cref="ServerOptions.ShutdownTimeout"/>); then every connection closes.
    /// </summary>
    public Task StopAsync()
    {
        lock (_lifecycle)
        {
            if (_reactor is null)
                return Task.CompletedTask;
            return _stopped ??= StopOnceAsync(_reactor);
        }
    }

    private async Task StopOnceAsync(ReactorLoop reactor)
    {
        if (_http is not null)
            await _http.DisposeAsync().ConfigureAwait(false); // first: no change is posted to a stopping reactor
        reactor.RequestStop();
        try
        {
            await reactor.Completion.ConfigureAwait(false);
        }
        finally
        {
            _metrics?.Dispose();
            reactor.Dispose();
            _log.LogInformation("stopped");
        }
    }

    /// <summary>Stops the server gracefully (see <see cref="StopAsync"/>).</summary>
    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    /// <summary>
    /// The reactor reports in plain sentences through an <see cref="Action{String}"/>; this gives each its level.
    /// A sentence not recognised here is a warning: the reactor speaks only when something is off.
    /// </summary>
    private void LogFromReactor(string message)
    {
        LogLevel level = message.StartsWith("reactor failed", StringComparison.Ordinal) ? LogLevel.Critical
            : message.Contains("unexpected error", StringComparison.Ordinal) ? LogLevel.Error
            : message.StartsWith("stopping:", StringComparison.Ordinal) ? LogLevel.Information
            : LogLevel.Warning;
        _reactorLog.Log(level, "{Message}", message); // a template of its own: the sentence may hold braces
    }
}
