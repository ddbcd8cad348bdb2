using System.Diagnostics.Metrics;
using EventLoop.Commands;
using EventLoop.Http;
using EventLoop.Stores;
using EventLoop.Reactor;

namespace EventLoop.Diagnostics;

/// <summary>
/// Publishes the reactor's counters through System.Diagnostics.Metrics (meter "EventLoop"), so
/// dotnet-counters, OpenTelemetry or a MeterListener can watch a running server. Observers read the
/// reactor's single-writer counters without locks; a value may be one update behind.
/// </summary>
internal sealed class ServerMetrics : IDisposable
{
    public const string MeterName = "EventLoop";
    private readonly Meter _meter = new(MeterName, InfoCommand.Version);

    /// <summary>
    /// <paramref name="snapshot"/> gives the per-queue gauges: queues are reactor-owned collections, so
    /// those are read from the HTTP endpoint's published snapshot and report nothing while it is off.
    /// </summary>
    public ServerMetrics(ReactorLoop reactor, Func<ServerSnapshot?> snapshot)
    {
        ReactorStats stats = reactor.Stats;
        reactor.Latency = new LatencyInstruments(_meter);
        _meter.CreateObservableUpDownCounter("eventloop.connections", () => stats.ConnectedClients, "{connection}", "Open client connections");
        _meter.CreateObservableCounter("eventloop.commands", () => stats.Commands, "{command}", "Requests processed");
        _meter.CreateObservableCounter("eventloop.loop.iterations", () => stats.Iterations, "{iteration}", "Multiplexer waits");
        _meter.CreateObservableCounter("eventloop.loop.events", () => stats.EventsReturned, "{event}", "Ready descriptors reported by waits");
        _meter.CreateObservableCounter("eventloop.syscalls", () => stats.Syscalls, "{call}", "System calls made by the reactor");
        _meter.CreateObservableCounter("eventloop.tasks.submitted", () => stats.TasksSubmitted, "{task}", "Tasks handed to workers");
        _meter.CreateObservableCounter("eventloop.ring.full_stalls", () => stats.RingFullStalls, "{stall}", "Times a full ring paused a connection");
        _meter.CreateObservableGauge("eventloop.ring.depth", () => reactor.Workers.RingDepth, "{task}", "Tasks waiting in the ring");
        _meter.CreateObservableUpDownCounter("eventloop.clients.memory", () => reactor.ClientMemory.Held, "By", "Bytes held by all client connections (input, output, queued requests)");
        _meter.CreateObservableCounter("eventloop.clients.evicted", () => reactor.ClientMemory.Evictions, "{connection}", "Clients closed over maxmemory-clients");
        _meter.CreateObservableCounter("eventloop.network.bytes_read", () => stats.BytesRead, "By");
        _meter.CreateObservableCounter("eventloop.network.bytes_written", () => stats.BytesWritten, "By");
        if (reactor.QueueStore.Totals is { } totals) // PostgreSQL: no node counts the whole queue's, so none is reported
        {
            _meter.CreateObservableCounter("eventloop.queue.submitted", () => totals.Submitted, "{task}", "Tasks submitted to the queue (SUBMIT, schedules)");
            _meter.CreateObservableCounter("eventloop.queue.succeeded", () => totals.Succeeded, "{task}", "Queued tasks that succeeded");
            _meter.CreateObservableCounter("eventloop.queue.failed", () => totals.Failed, "{task}", "Queued tasks that failed for good (into the dead set)");
        }
        _meter.CreateObservableGauge("eventloop.queue.depth", () => PerQueue(snapshot(), q => q.Queued), "{task}", "Ready tasks per queue (with the HTTP endpoint on)");
        _meter.CreateObservableGauge("eventloop.queue.running", () => PerQueue(snapshot(), q => q.Running), "{task}", "Running tasks per queue (with the HTTP endpoint on)");
        _meter.CreateObservableGauge("eventloop.queue.scheduled", () => PerQueue(snapshot(), q => q.Scheduled), "{task}", "Tasks waiting for their time per queue (with the HTTP endpoint on)");
        _meter.CreateObservableGauge("eventloop.queue.paused", () => PerQueue(snapshot(), q => q.Paused ? 1 : 0), "{queue}", "1 for a paused queue (with the HTTP endpoint on)");
        _meter.CreateObservableGauge<long>("eventloop.queue.dead", () => WithQueueFigures(snapshot()) is { } s ? [new Measurement<long>(s.DeadCount)] : [], "{task}", "Tasks in the dead set (with the HTTP endpoint on)");
        _meter.CreateObservableGauge<double>("eventloop.queue.overview.age", () => WithQueueFigures(snapshot()) is { } s ? [new Measurement<double>(Math.Max(0, s.TakenAtMs - s.QueueReadAtMs) / 1000.0)] : [],
            "s", "How old the queue gauges are: about 0 in memory, PostgreSQL's since its last overview read (with the HTTP endpoint on)");
        _meter.CreateObservableGauge<int>("eventloop.workers.busy", () => snapshot() is { } s ? [new Measurement<int>(s.Workers.Busy)] : [], "{worker}", "In-process workers running a task (with the HTTP endpoint on)");
    }

    /// <summary>The meter (one per server: observers tell servers apart by this instance).</summary>
    public Meter Meter => _meter;

    /// <summary>The snapshot, when its queue figures were read at least once: before that (PostgreSQL's first overview query), no gauge says 0.</summary>
    private static ServerSnapshot? WithQueueFigures(ServerSnapshot? snapshot) => snapshot is { QueueReadAtMs: > 0 } ? snapshot : null;

    private static IEnumerable<Measurement<long>> PerQueue(ServerSnapshot? snapshot, Func<QueueView, long> value)
    {
        if (WithQueueFigures(snapshot) is not { } read)
            yield break;
        foreach (QueueView queue in read.Queues)
            yield return new Measurement<long>(value(queue), new KeyValuePair<string, object?>("queue", queue.Name));
    }

    public void Dispose() => _meter.Dispose();
}
