using System.Globalization;
using System.Xml.Linq;
using EventLoop.Cli.Load;

namespace EventLoop.Cli.Plotting;

/// <summary><c>eventloop load --plot</c>: the latency percentile spectrum of a run, as HdrHistogram's plots draw it.</summary>
internal static class LatencyPlot
{
    /// <summary>
    /// Latency (ms) against percentile on a log scale of 1/(1 − p): 90%, 99%, 99.9%… are evenly spaced, so the
    /// tail gets as much room as the body. In open loop, the corrected line (from intended send times) and the
    /// uncorrected one (from actual send times): the gap between them is the queueing coordinated omission hides.
    /// </summary>
    public static XDocument Spectrum(LoadReport report)
    {
        long count = report.Latency.Count;
        var series = new List<Series> { Line(report.UncorrectedSpectrum is null ? "latency" : "corrected", report.LatencySpectrum, count) };
        if (report.UncorrectedSpectrum is { } uncorrected)
            series.Add(Line("uncorrected", uncorrected, count));
        if (series.All(s => s.Points.Count == 0))
            throw new InvalidOperationException("no reply was measured: there is no latency to plot");
        double widest = series.SelectMany(s => s.Points).Max(p => p.X);
        string mode = report.Options.IsOpenLoop ? $"open loop at {report.Options.Rate:#,0}/s" : $"closed loop, pipeline {report.Options.Pipeline}";
        return SvgChart.Lines($"{report.Options.Command}: latency by percentile ({mode}, {count:#,0} requests)",
            new Axis("percentile", Logarithmic: true, Ticks: PercentileTicks(widest)),
            new Axis("latency (ms)"), series);
    }

    /// <summary>
    /// The x of a percentile: 1/(1 − p). 100% itself has none, so the top values sit at the resolution of the
    /// run (1 in <paramref name="count"/>), which is what the maximum is.
    /// </summary>
    private static Series Line(string name, LatencySpectrum spectrum, long count) =>
        new(name, [.. spectrum.Points.Select(p => (X: Math.Min(1 / (1 - p.Percentile / 100), Math.Max(count, 1)), Y: p.Microseconds / 1000.0))]);

    /// <summary>Ticks at 0%, 90%, 99%, 99.9%… up to the decade that holds <paramref name="widest"/>.</summary>
    private static List<Tick> PercentileTicks(double widest)
    {
        var ticks = new List<Tick>();
        for (int nines = 0; nines == 0 || Math.Pow(10, nines - 1) < widest; nines++)
            ticks.Add(new Tick(Math.Pow(10, nines), (100 - 100 / Math.Pow(10, nines)).ToString("0.##########", CultureInfo.InvariantCulture) + "%"));
        return ticks;
    }
}
