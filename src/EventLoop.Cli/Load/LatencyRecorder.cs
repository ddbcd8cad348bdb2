using HdrHistogram;

namespace EventLoop.Cli.Load;

/// <summary>
/// The run's merged histograms, in microseconds. Load threads record into their own histograms
/// on the hot path and fold them in here a few times a second, so the only lock is taken then,
/// and the progress line can read a p99 of everything recorded so far.
/// Shared by all threads of a run; every member takes the lock.
/// </summary>
internal sealed class LatencyRecorder
{
    private readonly Lock _gate = new();

    public LongHistogram Latency { get; } = CreateHistogram();
    public LongHistogram Uncorrected { get; } = CreateHistogram();
    public LongHistogram Connect { get; } = CreateHistogram();

    /// <summary>1 µs to 60 s at 3 significant digits: every latency the tool can see, to 0.1%.</summary>
    public static LongHistogram CreateHistogram() => new(1, HighestMicroseconds, 3);

    public const long HighestMicroseconds = 60_000_000;

    /// <summary>Adds a thread's recent values to the totals and clears the thread's histograms.</summary>
    public void Absorb(LongHistogram latency, LongHistogram uncorrected, LongHistogram connect)
    {
        lock (_gate)
        {
            MoveInto(Latency, latency);
            MoveInto(Uncorrected, uncorrected);
            MoveInto(Connect, connect);
        }
    }

    /// <summary>The 99th percentile latency so far, in µs (0 before any reply).</summary>
    public long LatencyP99()
    {
        lock (_gate)
            return Latency.TotalCount == 0 ? 0 : Latency.GetValueAtPercentile(99);
    }

    /// <summary>Reads the final figures; call after every thread has absorbed its last values.</summary>
    public (LatencySummary Latency, LatencySummary Uncorrected, LatencySummary Connect) Summaries()
    {
        lock (_gate)
            return (LatencySummary.Of(Latency), LatencySummary.Of(Uncorrected), LatencySummary.Of(Connect));
    }

    /// <summary>The percentile spectra of the latencies (corrected, uncorrected); call once the run is over.</summary>
    public (LatencySpectrum Latency, LatencySpectrum Uncorrected) Spectra()
    {
        lock (_gate)
            return (LatencySpectrum.Of(Latency), LatencySpectrum.Of(Uncorrected));
    }

    private static void MoveInto(LongHistogram total, LongHistogram recent)
    {
        if (recent.TotalCount == 0)
            return;
        total.Add(recent);
        recent.Reset();
    }
}
