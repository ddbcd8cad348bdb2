namespace EventLoop.Cli.Load;

/// <summary>
/// One load thread's open-loop timetable. The thread's requests are meant for ticks 0, 1, 2…
/// one period apart, and tick k belongs to busy connection k mod n; so each connection has its own
/// evenly spaced rounds, and together they keep the thread's rate. Immutable.
/// </summary>
internal sealed class OpenLoopSchedule(long start, double periodTicks, int connections)
{
    /// <summary>When tick <paramref name="tick"/>'s request is meant to be sent (Stopwatch ticks).</summary>
    public long IntendedAt(long tick) => start + (long)(tick * periodTicks);

    /// <summary>When round <paramref name="round"/> of connection <paramref name="connection"/> is meant to be sent.</summary>
    public long IntendedAt(int connection, long round) => IntendedAt(connection + round * connections);

    /// <summary>The connection that owns <paramref name="tick"/>.</summary>
    public int ConnectionOf(long tick) => (int)(tick % connections);

    /// <summary>The first tick meant for <paramref name="time"/> or later.</summary>
    public long FirstTickAtOrAfter(long time)
    {
        long tick = Math.Max(0, (long)Math.Ceiling((time - start) / periodTicks));
        while (tick > 0 && IntendedAt(tick - 1) >= time) tick--; // correct the floating-point guess
        while (IntendedAt(tick) < time) tick++;
        return tick;
    }

    /// <summary>The first round of <paramref name="connection"/> meant for <paramref name="time"/> or later.</summary>
    public long FirstRoundAtOrAfter(int connection, long time) =>
        Math.Max(0, (FirstTickAtOrAfter(time) - connection + connections - 1) / connections);
}
