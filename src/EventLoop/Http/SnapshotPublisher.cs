using System.Diagnostics;
using System.Text;
using EventLoop.Commands;
using EventLoop.Queueing;
using EventLoop.Reactor;
using EventLoop.Workers;

namespace EventLoop.Http;

/// <summary>
/// Builds a <see cref="ServerSnapshot"/> on the reactor thread from its housekeeping tick, at most every
/// <see cref="Interval"/>, and publishes it with one volatile write of the reference. <see cref="Current"/>
/// may be read from any thread; the record and its lists are never changed after publication.
/// </summary>
/// <remarks>
/// The cost on the reactor is bounded: the dead set and the leases are listed only up to a limit, so a
/// million dead tasks cost the same as a hundred. Only built while the HTTP endpoint is on.
/// </remarks>
internal sealed class SnapshotPublisher(ReactorLoop reactor)
{
    public const int DeadListed = 100;
    public const int LeasesListed = 100;
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(250);

    private readonly long _intervalTicks = (long)(Interval.TotalSeconds * Stopwatch.Frequency);
    private ServerSnapshot? _current;
    private long _lastAt;

    /// <summary>The latest snapshot; null until the reactor's first housekeeping tick.</summary>
    public ServerSnapshot? Current => Volatile.Read(ref _current);

    /// <summary>Reactor thread: publishes a new snapshot when the last one is <see cref="Interval"/> old.</summary>
    public void OnHousekeeping()
    {
        long now = reactor.Now;
        if (_lastAt != 0 && now - _lastAt < _intervalTicks - _intervalTicks / 10) // housekeeping runs at 10 Hz: 250 ms ≈ every third tick
            return;
        _lastAt = now;
        Volatile.Write(ref _current, Build());
    }

    private ServerSnapshot Build()
    {
        ReactorStats stats = reactor.Stats;
        TaskStore store = reactor.Store;
        WorkerPool workers = reactor.Workers;
        QueueTotals totals = store.Totals;
        var queues = new List<QueueView>();
        long oldest = 0;
        foreach (TaskQueue queue in store.Queues)
        {
            queues.Add(new QueueView(queue.Name, queue.Queued, queue.Running, queue.Waiting, queue.Paused));
            long created = queue.OldestReadyCreatedMs();
            if (created != 0 && (oldest == 0 || created < oldest))
                oldest = created;
        }
        int busy = 0;
        foreach (WorkerSlot slot in workers.Slots)
        {
            if (!slot.Retired && slot.BusySince != 0)
                busy++;
        }
        return new ServerSnapshot
        {
            TakenAtMs = store.Clock.UnixMs,
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
            Totals = new TotalsView(store.Count, totals.Submitted, totals.Succeeded, totals.Failed, totals.Retried, totals.Cancelled,
                totals.Expired, oldest == 0 ? 0 : Math.Max(0, store.Clock.UnixMs - oldest)),
            Queues = queues,
            DeadCount = store.DeadCount,
            Dead = DeadTasks(store),
            Schedules = [.. store.Schedules.Select(s => new ScheduleView(s.Name, s.Spec, s.Template.Task, s.Template.Queue, s.NextFireMs))],
            External = External(store),
        };
    }

    private static List<DeadTaskView> DeadTasks(TaskStore store)
    {
        var dead = new List<DeadTaskView>(Math.Min(store.DeadCount, DeadListed));
        foreach (TaskRecord task in store.Dead(null))
        {
            if (dead.Count == DeadListed)
                break;
            dead.Add(new DeadTaskView(task.IdText, task.Name, task.Queue.Name, task.Error, task.FinishedMs, task.Attempt));
        }
        return dead;
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
