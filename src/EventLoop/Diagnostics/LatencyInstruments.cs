using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;

namespace EventLoop.Diagnostics;

/// <summary>
/// Latency histograms: how long the reactor spent executing each command, by command, and how long each task
/// ran on a worker, by task. Recorded on the reactor thread, and only while something listens (the HTTP
/// endpoint's exporter, dotnet-counters): otherwise each costs one flag test per request.
/// </summary>
internal sealed class LatencyInstruments(Meter meter)
{
    /// <summary>Bucket bounds in seconds for both histograms: 1 µs to 10 s.</summary>
    public static readonly double[] Buckets =
        [1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];

    private static readonly Dictionary<string, string> Verbs = new(StringComparer.OrdinalIgnoreCase);
    private static readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> VerbsByChars;

    static LatencyInstruments()
    {
        foreach (string verb in (string[])["RUN", "PING", "ECHO", "SUBMIT", "FETCH", "ACK", "TOUCH", "FAIL", "NACK", "RESULT", "STATUS",
                                           "WAIT", "CANCEL", "INFO", "SCHEDULE", "QUEUES", "QUEUE", "DEAD", "TASKS", "CLIENT", "HELLO",
                                           "QUIT", "AUTH", "COMMAND", "CONFIG", "SELECT", "JOURNAL", "DEBUG"])
            Verbs[verb] = verb.ToLowerInvariant();
        VerbsByChars = Verbs.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public Histogram<double> Commands { get; } = meter.CreateHistogram<double>("eventloop.command.duration", "s",
        "Time the reactor spent executing a command (a task's own run is eventloop.task.duration)");

    public Histogram<double> Tasks { get; } = meter.CreateHistogram<double>("eventloop.task.duration", "s",
        "Time a task ran on a worker, RUN and queued alike, until its result reached the reactor");

    /// <summary>Records a command that began at <paramref name="startedAt"/> (Stopwatch ticks), tagged with its verb.</summary>
    public void RecordCommand(ReadOnlySpan<byte> verb, long startedAt) =>
        Commands.Record(Stopwatch.GetElapsedTime(startedAt).TotalSeconds, new KeyValuePair<string, object?>("command", KnownVerb(verb)));

    /// <summary>Records a task that a worker began at <paramref name="startedAt"/> and the reactor took back at <paramref name="now"/>.</summary>
    public void RecordTask(string task, long startedAt, long now) =>
        Tasks.Record(Stopwatch.GetElapsedTime(startedAt, now).TotalSeconds, new KeyValuePair<string, object?>("task", task));

    /// <summary>The verb's name from a fixed set, so a client cannot create a series per made-up command.</summary>
    private static string KnownVerb(ReadOnlySpan<byte> verb)
    {
        Span<char> chars = stackalloc char[8];
        if (verb.Length > chars.Length)
            return "other";
        int length = Encoding.Latin1.GetChars(verb, chars);
        return VerbsByChars.TryGetValue(chars[..length], out string? known) ? known : "other";
    }
}
