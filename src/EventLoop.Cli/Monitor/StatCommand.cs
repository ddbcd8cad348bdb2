using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using EventLoop.Cli.CommandLine;

namespace EventLoop.Cli.Monitor;

/// <summary>
/// <c>eventloop stat</c>: one line per interval about a running server, as <c>redis-cli --stat</c> prints:
/// connections, ops/s from the delta of the commands processed, ring depth, tasks running, failures, and
/// the task queue's counts when INFO has a <c># Queueing</c> section. Columns whose field the server
/// does not report are left out.
/// </summary>
internal static class StatCommand
{
    private const int HeaderEvery = 20;

    private static readonly OptionTable<MonitorOptions> Options = WithInterval(MonitorOptions.TargetOptions());

    /// <summary>The columns, each read from INFO by name; where several fields are named, the first present counts.</summary>
    private static readonly StatColumn[] Columns =
    [
        new("clients", StatKind.Gauge, ("clients", "connected_clients")),
        new("ops/s", StatKind.Rate, ("stats", "total_commands_processed")),
        new("commands", StatKind.Gauge, ("stats", "total_commands_processed")),
        new("ring", StatKind.Gauge, ("queue", "ring_depth")),
        new("running", StatKind.Gauge, ("queue", "tasks_in_progress")),
        new("timeouts", StatKind.Gauge, ("stats", "task_timeouts")),
        new("queued", StatKind.Gauge, ("queueing", "tasks_queued"), ("queueing", "queued")),
        new("q-running", StatKind.Gauge, ("queueing", "tasks_running"), ("queueing", "running")),
        new("failed", StatKind.Gauge, ("queueing", "tasks_failed"), ("queueing", "failed")),
    ];

    /// <summary>The <c>stat</c> command.</summary>
    public static Command Create()
    {
        var command = new NotedCommand("stat", "Prints a line about a running server every interval, as redis-cli --stat does.", MonitorCommand.Notes)
            .WithOptions(Options);
        command.SetAction(parsed =>
        {
            MonitorOptions options = Options.Bind(parsed);
            return MonitorCommand.Run(parsed, options, (client, output) => WatchAsync(options, () => client.InfoAsync(), output));
        });
        return command;
    }

    private static OptionTable<MonitorOptions> WithInterval(OptionTable<MonitorOptions> table)
    {
        table.Add("--interval", "TIME", "time between two lines", o => o.Interval, OptionValues.Time, (o, v) => o with { Interval = v });
        table.Add("--count", "N", "lines to print before stopping", _ => "until Ctrl+C", OptionValues.Whole, (o, v) => o with { Count = v });
        return table;
    }

    /// <summary>Reads INFO through <paramref name="info"/> every interval and prints a line, with a header every 20 lines.</summary>
    public static async Task WatchAsync(MonitorOptions options, Func<Task<string>> info, TextWriter output)
    {
        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true; // Ctrl+C ends the watch, not the process abruptly
            stop.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            StatColumn[]? shown = null;
            (InfoReport Report, long At)? previous = null;
            for (int line = 0; options.Count is null || line < options.Count; line++)
            {
                if (line > 0 && !await DelayAsync(options.Interval, stop.Token).ConfigureAwait(false))
                    break;
                var current = (Report: InfoReport.Parse(await info().ConfigureAwait(false)), At: Stopwatch.GetTimestamp());
                shown ??= [.. Columns.Where(c => c.Read(current.Report) is not null)];
                if (line % HeaderEvery == 0)
                    output.WriteLine(string.Join(' ', shown.Select(c => c.Header.PadLeft(c.Width))));
                double seconds = previous is { } p ? Stopwatch.GetElapsedTime(p.At, current.At).TotalSeconds : 0;
                output.WriteLine(string.Join(' ', shown.Select(c => c.Format(current.Report, previous?.Report, seconds).PadLeft(c.Width))));
                previous = current;
            }
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static async Task<bool> DelayAsync(TimeSpan interval, CancellationToken stop)
    {
        try
        {
            await Task.Delay(interval, stop).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private enum StatKind
    {
        /// <summary>The field's current value.</summary>
        Gauge,
        /// <summary>The field's increase per second since the previous line ("-" on the first).</summary>
        Rate,
    }

    private sealed class StatColumn(string header, StatKind kind, params (string Section, string Field)[] fields)
    {
        public string Header => header;

        public int Width => Math.Max(header.Length, 9);

        public double? Read(InfoReport report) =>
            fields.Select(f => report.Number(f.Section, f.Field)).FirstOrDefault(v => v is not null);

        public string Format(InfoReport current, InfoReport? previous, double seconds)
        {
            double? now = Read(current);
            if (kind == StatKind.Rate)
                now = previous is not null && Read(previous) is double before && seconds > 0 ? (now - before) / seconds : null;
            return now is double value ? value.ToString("#,0", CultureInfo.InvariantCulture) : "-";
        }
    }
}
