using System.Diagnostics;

namespace EventLoop.Cli.Load;

/// <summary>The time points of a run in Stopwatch ticks, the same for every load thread. Immutable.</summary>
/// <param name="Start">When connecting begins; the warm-up starts here.</param>
/// <param name="MeasureFrom">Requests meant to be sent from here on are measured.</param>
/// <param name="SendUntil">No request meant for this time or later is sent (long.MaxValue: bounded by requests only).</param>
/// <param name="TimeoutTicks">A connect or reply slower than this is a timeout error.</param>
internal sealed record RunClock(long Start, long MeasureFrom, long SendUntil, long TimeoutTicks)
{
    public static long Now => Stopwatch.GetTimestamp();

    public static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    public static double Seconds(long ticks) => ticks / (double)Stopwatch.Frequency;

    public static RunClock For(LoadOptions options, long start)
    {
        long measureFrom = start + Ticks(options.Warmup);
        long sendUntil = options.EffectiveDuration is { } duration ? measureFrom + Ticks(duration) : long.MaxValue;
        return new RunClock(start, measureFrom, sendUntil, Ticks(options.Timeout));
    }
}
