using System.Globalization;
using System.Text;
using System.Text.Json;
using HdrHistogram;

namespace EventLoop.Cli.Load;

/// <summary>Percentiles of one histogram, in microseconds. Immutable.</summary>
/// <param name="Count">How many values were recorded.</param>
public sealed record LatencySummary(long P50, long P90, long P99, long P999, long P9999, long Max, long Count)
{
    /// <summary>The summary of an empty histogram: all zero.</summary>
    public static readonly LatencySummary Empty = new(0, 0, 0, 0, 0, 0, 0);

    internal static LatencySummary Of(HistogramBase histogram) => histogram.TotalCount == 0
        ? Empty
        : new LatencySummary(histogram.GetValueAtPercentile(50), histogram.GetValueAtPercentile(90),
            histogram.GetValueAtPercentile(99), histogram.GetValueAtPercentile(99.9),
            histogram.GetValueAtPercentile(99.99), histogram.GetMaxValue(), histogram.TotalCount);
}

/// <summary>A latency at one percentile level, in microseconds.</summary>
public readonly record struct PercentileValue(double Percentile, long Microseconds);

/// <summary>
/// Latency across percentiles, as HdrHistogram's percentile iteration walks a histogram: five steps per halving
/// of the distance to 100%, so the tail is as finely drawn as the middle. Immutable.
/// </summary>
public sealed record LatencySpectrum(IReadOnlyList<PercentileValue> Points)
{
    /// <summary>The spectrum of an empty histogram: no points.</summary>
    public static readonly LatencySpectrum Empty = new([]);

    internal static LatencySpectrum Of(HistogramBase histogram) => histogram.TotalCount == 0
        ? Empty
        : new LatencySpectrum([.. histogram.Percentiles(5).Select(v => new PercentileValue(v.PercentileLevelIteratedTo, v.ValueIteratedTo))]);
}

/// <summary>What the generator itself used: the figures that tell whether it, not the server, set the pace. Immutable.</summary>
/// <param name="CpuSeconds">CPU time of the whole process from the start of the run to its end.</param>
/// <param name="WallSeconds">The run's length, warm-up and connects included.</param>
/// <param name="PeakRssBytes">The process's peak resident memory (VmHWM).</param>
/// <param name="BusiestThread">The busiest load thread's share of the measured time on a CPU, 0..1.</param>
public sealed record GeneratorUsage(double CpuSeconds, double WallSeconds, long PeakRssBytes, double BusiestThread)
{
    /// <summary>A load thread at this share of a CPU or more was likely what limited the run.</summary>
    public const double SaturatedShare = 0.9;
}

/// <summary>How a run ended.</summary>
public enum LoadOutcome
{
    /// <summary>The bound was reached and every request was answered or timed out.</summary>
    Completed,
    /// <summary>Stopped early by cancellation (Ctrl+C).</summary>
    Cancelled,
    /// <summary>No connection could be made at all.</summary>
    NoConnection,
    /// <summary>Connections were lost and could not be reopened for <c>--timeout</c>.</summary>
    ServerUnreachable,
}

/// <summary>The figures of a finished run: what the summary prints and <c>--json</c> writes. Immutable.</summary>
public sealed class LoadReport
{
    /// <summary>The options the run used.</summary>
    public required LoadOptions Options { get; init; }
    /// <summary>host:port as resolved.</summary>
    public required string Target { get; init; }
    /// <summary>Bytes of one encoded request (in a lifecycle run, of one SUBMIT).</summary>
    public required int RequestBytes { get; init; }
    /// <summary>A lifecycle run: what each lifecycle sends, in words; null when the run sent requests.</summary>
    public string? Lifecycle { get; init; }
    /// <summary>How the run ended.</summary>
    public required LoadOutcome Outcome { get; init; }
    /// <summary>The first connection error seen, in words, or null.</summary>
    public required string? FirstError { get; init; }
    /// <summary>Replies to measured requests (error replies included); in a lifecycle run, measured lifecycles that ended (failed ones included).</summary>
    public required long Requests { get; init; }
    /// <summary>Errors by kind over the whole run (error replies: measured requests only).</summary>
    public required IReadOnlyDictionary<ErrorKind, long> ErrorsByKind { get; init; }
    /// <summary>From the end of the warm-up to the last measured reply.</summary>
    public required double DurationSeconds { get; init; }
    /// <summary>Latency from the intended send time (the only send time in closed loop).</summary>
    public required LatencySummary Latency { get; init; }
    /// <summary>Open loop: latency from the actual send time, which hides queueing in the generator; null in closed loop.</summary>
    public required LatencySummary? LatencyUncorrected { get; init; }
    /// <summary>The latency spectrum behind <see cref="Latency"/> (what <c>--plot</c> draws).</summary>
    public LatencySpectrum LatencySpectrum { get; init; } = LatencySpectrum.Empty;
    /// <summary>Open loop: the spectrum behind <see cref="LatencyUncorrected"/>; null in closed loop.</summary>
    public LatencySpectrum? UncorrectedSpectrum { get; init; }
    /// <summary>Time from connect() to the connection being usable, over all successful connects.</summary>
    public required LatencySummary ConnectTime { get; init; }
    /// <summary>Successful connects, reconnects included.</summary>
    public required long Connects { get; init; }
    /// <summary>Busy connections that got at least one reply: with -c 10000, proof that every one was served.</summary>
    public required int AnsweredConnections { get; init; }
    /// <summary>The most connections open at once, idle ones included.</summary>
    public required int PeakOpenConnections { get; init; }

    /// <summary>Bytes the load threads allocated after the warm-up (0 when the hot path allocates nothing).</summary>
    public required long GeneratorAllocatedBytes { get; init; }

    /// <summary>CPU, memory and how busy the load threads were.</summary>
    public required GeneratorUsage Generator { get; init; }

    /// <summary>All errors.</summary>
    public long Errors => ErrorsByKind.Values.Sum();

    /// <summary>True when the samples are task lifecycles (SUBMIT then RESULT), not single requests.</summary>
    public bool IsLifecycle => Lifecycle is not null;

    /// <summary>Measured requests per second; in a lifecycle run, tasks (lifecycles) per second.</summary>
    public double ThroughputRps => DurationSeconds > 0 ? Requests / DurationSeconds : 0;

    /// <summary>The summary printed at the end of a run.</summary>
    public string FormatSummary()
    {
        var text = new StringBuilder();
        LoadOptions o = Options;
        string batches = o.PipelineMode == PipelineMode.Batch ? ", sent in whole batches" : "";
        string samples = IsLifecycle ? "lifecycles" : "requests";
        string mode = o.IsOpenLoop
            ? $"open loop at {Number(o.Rate)} {samples}/s, at most {o.Pipeline} in flight per connection{batches}"
            : $"closed loop, pipeline {o.Pipeline}{batches}";
        text.AppendLine(CultureInfo.InvariantCulture, $"target       {Target} · {mode}");
        text.AppendLine(CultureInfo.InvariantCulture,
            $"connections  {o.Connections} busy + {o.Idle} idle on {o.Threads} thread(s) ({o.Backend}); {Connects} connects, peak {PeakOpenConnections} open, {AnsweredConnections} answered");
        if (Lifecycle is not null)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"lifecycle    {Lifecycle} ({RequestBytes} bytes per SUBMIT); the result must echo the payload");
            text.AppendLine(CultureInfo.InvariantCulture,
                $"lifecycles   {Number(Requests)} in {DurationSeconds:0.000} s = {Number(ThroughputRps)} tasks/s");
        }
        else
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"command      {o.Command} ({RequestBytes} bytes per request)");
            text.AppendLine(CultureInfo.InvariantCulture,
                $"requests     {Number(Requests)} in {DurationSeconds:0.000} s = {Number(ThroughputRps)} requests/s");
        }
        text.AppendLine("latency µs          p50        p90        p99      p99.9     p99.99        max");
        AppendRow(text, o.IsOpenLoop ? "  corrected" : $"  {samples}", Latency);
        if (LatencyUncorrected is not null)
            AppendRow(text, "  uncorrected", LatencyUncorrected);
        AppendRow(text, "  connect", ConnectTime);
        text.Append(CultureInfo.InvariantCulture, $"errors       {Number(Errors)} (");
        text.AppendJoin(", ", ErrorKinds.All.Select(k => $"{ErrorKinds.Name(k)} {Number(ErrorsByKind[k])}"));
        text.AppendLine(")");
        if (FirstError is not null)
            text.AppendLine(CultureInfo.InvariantCulture, $"first error  {FirstError}");
        GeneratorUsage g = Generator;
        text.AppendLine(CultureInfo.InvariantCulture,
            $"generator    CPU {g.CpuSeconds:0.00} s in {g.WallSeconds:0.00} s, busiest load thread {g.BusiestThread:P0} busy, peak RSS {g.PeakRssBytes >> 20} MiB");
        if (g.BusiestThread >= GeneratorUsage.SaturatedShare)
            text.AppendLine("note         a load thread was busy nearly all the time: the generator may have set the pace, not the server (add --threads, or give it a CPU of its own)");
        if (Outcome != LoadOutcome.Completed)
            text.AppendLine(CultureInfo.InvariantCulture, $"stopped      {OutcomeName(Outcome)}");
        return text.ToString();
    }

    /// <summary>The report as JSON (snake_case names; latencies in µs).</summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("target", Target);
            json.WriteString("mode", Options.IsOpenLoop ? "open" : "closed");
            json.WriteString("measured", IsLifecycle ? "lifecycles" : "requests");
            if (Lifecycle is not null)
            {
                json.WriteString("lifecycle", Lifecycle);
                json.WriteString("task", Options.Task);
                json.WriteNumber("payload_bytes", Options.PayloadBytes);
                json.WriteNumber("result_timeout_ms", Options.ResultTimeout.TotalMilliseconds);
            }
            else
                json.WriteString("command", Options.Command);
            json.WriteNumber("request_bytes", RequestBytes);
            json.WriteNumber("pipeline", Options.Pipeline);
            json.WriteString("pipeline_mode", Options.PipelineMode == PipelineMode.Batch ? "batch" : "window");
            if (Options.IsOpenLoop)
                json.WriteNumber("target_rate_rps", Options.Rate);
            json.WriteNumber("connections", Options.Connections);
            json.WriteNumber("idle_connections", Options.Idle);
            json.WriteNumber("threads", Options.Threads);
            json.WriteString("backend", Options.Backend);
            json.WriteNumber("connects", Connects);
            json.WriteNumber("peak_open_connections", PeakOpenConnections);
            json.WriteNumber("answered_connections", AnsweredConnections);
            json.WriteString("outcome", OutcomeName(Outcome));
            json.WriteNumber(IsLifecycle ? "lifecycles" : "requests", Requests);
            json.WriteNumber("errors", Errors);
            json.WriteStartObject("errors_by_kind");
            foreach (ErrorKind kind in ErrorKinds.All)
                json.WriteNumber(ErrorKinds.Name(kind), ErrorsByKind[kind]);
            json.WriteEndObject();
            if (FirstError is not null)
                json.WriteString("first_error", FirstError);
            json.WriteNumber("duration_s", Math.Round(DurationSeconds, 6));
            json.WriteNumber(IsLifecycle ? "throughput_tps" : "throughput_rps", Math.Round(ThroughputRps, 1));
            WriteSummary(json, "latency_us", Latency);
            if (LatencyUncorrected is not null)
                WriteSummary(json, "latency_uncorrected_us", LatencyUncorrected);
            WriteSummary(json, "connect_us", ConnectTime);
            json.WriteNumber("generator_allocated_bytes", GeneratorAllocatedBytes);
            json.WriteNumber("generator_cpu_s", Math.Round(Generator.CpuSeconds, 3));
            json.WriteNumber("generator_wall_s", Math.Round(Generator.WallSeconds, 3));
            json.WriteNumber("generator_peak_rss_bytes", Generator.PeakRssBytes);
            json.WriteNumber("busiest_load_thread", Math.Round(Generator.BusiestThread, 3));
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>The outcome as the JSON report spells it.</summary>
    public static string OutcomeName(LoadOutcome outcome) => outcome switch
    {
        LoadOutcome.Completed => "completed",
        LoadOutcome.Cancelled => "cancelled",
        LoadOutcome.NoConnection => "no_connection",
        _ => "server_unreachable",
    };

    private static void WriteSummary(Utf8JsonWriter json, string name, LatencySummary summary)
    {
        json.WriteStartObject(name);
        json.WriteNumber("p50", summary.P50);
        json.WriteNumber("p90", summary.P90);
        json.WriteNumber("p99", summary.P99);
        json.WriteNumber("p999", summary.P999);
        json.WriteNumber("p9999", summary.P9999);
        json.WriteNumber("max", summary.Max);
        json.WriteNumber("count", summary.Count);
        json.WriteEndObject();
    }

    private static void AppendRow(StringBuilder text, string label, LatencySummary s) =>
        text.AppendLine(CultureInfo.InvariantCulture,
            $"{label,-14}{s.P50,11}{s.P90,11}{s.P99,11}{s.P999,11}{s.P9999,11}{s.Max,11}");

    private static string Number(double value) => value.ToString("#,0", CultureInfo.InvariantCulture);
}
