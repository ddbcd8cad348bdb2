using System.Diagnostics.Metrics;
using EventLoop.Commands;
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

    public ServerMetrics(ReactorLoop reactor)
    {
        ReactorStats stats = reactor.Stats;
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
    }

    public void Dispose() => _meter.Dispose();
}
