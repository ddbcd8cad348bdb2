using System.Diagnostics;

namespace EventLoop.Queueing;

/// <summary>
/// The reactor's clock seen two ways: Stopwatch ticks for deadlines, Unix milliseconds for what clients
/// see and give (AT, STATUS times, schedule fire times). Wall time is read once at start and advanced by
/// the monotonic clock, so a wall-clock step does not reorder deadlines. Set by the reactor each iteration.
/// </summary>
internal sealed class QueueClock
{
    private readonly long _baseTicks = Stopwatch.GetTimestamp();
    private readonly long _baseUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    private readonly double _msPerTick = 1000.0 / Stopwatch.Frequency;

    /// <summary>The reactor's current time in Stopwatch ticks.</summary>
    public long NowTicks;

    public QueueClock() => NowTicks = _baseTicks;

    public long UnixMs => ToUnixMs(NowTicks);

    public long ToUnixMs(long ticks) => _baseUnixMs + (long)((ticks - _baseTicks) * _msPerTick);

    public long TicksAt(long unixMs) => _baseTicks + (long)((unixMs - _baseUnixMs) / _msPerTick);

    public long TicksAfter(long milliseconds) => NowTicks + (long)(milliseconds / _msPerTick);
}
