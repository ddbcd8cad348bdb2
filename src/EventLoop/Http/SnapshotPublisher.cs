using System.Diagnostics;
using System.Text;
using EventLoop.Commands;
using EventLoop.Queueing;
using EventLoop.Reactor;
using EventLoop.Stores;
using EventLoop.Workers;

namespace EventLoop.Http;

/// <summary>
/// Builds a <see cref="ServerSnapshot"/> on the reactor thread from its housekeeping tick, at most every
/// <see cref="Interval"/>, and publishes it with one volatile write of the reference. <see cref="Current"/>
/// may be read from any thread; the record and its lists are never changed after publication. The queue's part comes
/// from the store (<see cref="IQueueStore.Overview"/>), which PostgreSQL refreshes only while someone reads.
/// </summary>
/// <remarks>
/// The cost on the reactor is bounded: the dead set and the leases are listed only up to a limit, so a
/// million dead tasks cost the same as a hundred. Only built while the HTTP endpoint is on.
/// </remarks>
internal sealed class SnapshotPublisher(ReactorLoop reactor, IQueueStore queue)
{
    public const int LeasesListed = 100;
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(250);
    /// <summary>The snapshot counts as watched this long after it was last read (the dashboard polls every second, Prometheus every 15 s or so).</summary>
    private const long WatchedForMs = 60_000;

    private readonly long _intervalTicks = (long)(Interval.TotalSeconds * Stopwatch.Frequency);
    private ServerSnapshot? _current;
    private long _lastAt;
    private long _readAtMs = long.MinValue / 2;

    /// <summary>The latest snapshot; null until the reactor's first housekeeping tick. Any thread; a read marks the snapshot watched.</summary>
    public ServerSnapshot? Current
    {
        get
        {
            Volatile.Write(ref _readAtMs, Environment.TickCount64);
            return Volatile.Read(ref _current);
        }
    }

    /// <summary>Reactor thread: publishes a new snapshot when the last one is <see cref="Interval"/> old.</summary>
    public void OnHousekeeping()
    {
        long now = reactor.Now;
        if (_lastAt != 0 && now - _lastAt < _intervalTicks - _intervalTicks / 10) // housekeeping runs at 10 Hz: 250 ms ≈ every third tick
            return;
        _lastAt = now;
        queue.RefreshOverview(watched: Environment.TickCount64 - Volatile.Read(ref _readAtMs) < WatchedForMs);
        Volatile.Write(ref _current, Build(queue.Overview ?? QueueOverview.Unread));
    }

    private ServerSnapshot Build(QueueOverview overview)
    {
        ReactorStats stats = reactor.Stats;
        TaskStore store = reactor.Store;
        WorkerPool workers = reactor.Workers;
        QueueTotals? totals = queue.Totals;
        long nowMs = store.Clock.UnixMs;
        int busy = 0;
        foreach (WorkerSlot slot in workers.Slots)
        {
            if (!slot.Retired && slot.BusySince != 0)
                busy++;
        }
        return new ServerSnapshot
        {
            TakenAtMs = nowMs,
            Version = InfoCommand.Version,
            Backend = reactor.BackendName,
            Port = reactor.Port,
            UptimeSeconds = (long)(DateTime.UtcNow - reactor.StartedAt).TotalSeconds,
            Connections = stats.ConnectedClients,
            MaxClients = reactor.Options.MaxClients,
            OpsPerSecond = reactor.OpsPerSecond,
            Reactor = new ReactorView(stats.Iterations, stats.EventsReturned, Ratio(stats.EventsReturned, stats.Iterations),
                stats.Syscalls, Ratio(stats.Syscalls, Math.Max(1, stats.Commands)), stats.ReadCalls, stats.WriteCalls, stats.Wakeups,
                stats.Commands, stats.BytesRead, stats.BytesWritten, workers.RingDepth, workers.RingCapacity),
            Workers = new WorkersView(workers.WorkerCount, busy, workers.Parked, stats.TasksSubmitted, stats.TasksCompleted),
            Totals = new TotalsView(overview.Tasks, totals?.Submitted, totals?.Succeeded, totals?.Failed, totals?.Retried, totals?.Cancelled,
                totals?.Expired, overview.OldestReadyCreatedMs == 0 ? 0 : Math.Max(0, nowMs - overview.OldestReadyCreatedMs)),
            Queues = overview.Queues,
            DeadCount = overview.DeadCount,
            Dead = overview.Dead,
            Schedules = overview.Schedules,
            QueueReadAtMs = overview.ReadAtMs,
            QueueError = overview.ReadError,
            External = External(store),
        };
    }

    private ExternalView External(TaskStore store)
    {
        var fetchers = new List<FetcherView>();
        int listed = 0;
        foreach (Connection connection in reactor.Fetchers == 0 ? [] : reactor.OpenConnections())
        {
            if (connection.Leases is not { } set)
                continue;
            var leases = new List<LeaseView>();
            foreach (Lease lease in set.All)
            {
                if (listed++ == LeasesListed)
                    break;
                long expiresIn = lease.IsArmed ? Math.Max(0, (lease.DueAt - reactor.Now) * 1000 / Stopwatch.Frequency) : 0;
                leases.Add(new LeaseView(lease.Task.IdText, lease.Task.Name, lease.Task.Queue.Name, lease.Attempt, expiresIn));
            }
            fetchers.Add(new FetcherView(connection.Id, connection.Name, leases));
        }
        LeaseTotals totals = store.Leases;
        return new ExternalView(reactor.Fetchers, store.BlockedFetches, store.LeasedTasks, totals.Fetched, totals.Expired, fetchers);
    }

    private static double Ratio(long numerator, long denominator) =>
        denominator == 0 ? 0 : Math.Round((double)numerator / denominator, 3);
}
