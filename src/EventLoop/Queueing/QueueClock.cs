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

    /// <summary>Ticks at <paramref name="unixMs"/>; a time beyond the tick range (about 146 years of ns ticks) is clamped, never wrapped into the past.</summary>
    public long TicksAt(long unixMs) => Offset(_baseTicks, (unixMs - _baseUnixMs) / _msPerTick);

    public long TicksAfter(long milliseconds) => Offset(NowTicks, milliseconds / _msPerTick);

    private static long Offset(long ticks, double delta) =>
        delta >= long.MaxValue / 2.0 ? long.MaxValue / 2 : delta <= long.MinValue / 2.0 ? long.MinValue / 2 : ticks + (long)delta;
}
